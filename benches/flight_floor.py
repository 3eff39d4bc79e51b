"""The floor of a Flight fetch on this machine: the 10-million-row table of
benches/flight_fetch.py, already in memory in a pyarrow (C++) Flight
server, fetched over loopback by pyarrow's Flight client into a Table. No
query runs; what is timed is only encoding, gRPC, the socket and decoding,
with the server and the client sharing the machine's cores, as they do in
flight_fetch.py. Compare the median with quiver's in-process time there.

    python benches/flight_floor.py [--rows N] [--runs R]
"""
import argparse
import multiprocessing as mp
import os
import statistics
import time


def serve(rows, port_out):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.flight as flight

    ids = pa.array(range(1, rows + 1), pa.int64())
    x = pc.multiply(ids.cast(pa.float64()), 0.5)
    name = pa.array([f"package {i % 100000}" for i in range(1, rows + 1)], pa.string())
    table = pa.table({"id": ids, "x": x, "name": name}).combine_chunks()
    batches = table.to_batches(max_chunksize=8192)

    class Server(flight.FlightServerBase):
        def do_get(self, context, ticket):
            return flight.RecordBatchStream(pa.Table.from_batches(batches))

    server = Server("grpc+tcp://127.0.0.1:0")
    port_out.put(server.port)
    server.serve()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import pyarrow.flight as flight

    ports = mp.Queue()
    proc = mp.Process(target=serve, args=(args.rows, ports), daemon=True)
    proc.start()
    port = ports.get(timeout=300)
    client = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")
    def server_cpu():
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    times, client_cpu, serve_cpu = [], [], []
    for _ in range(args.runs + 1):
        start, cpu, served = time.perf_counter(), time.process_time(), server_cpu()
        table = client.do_get(flight.Ticket(b"all")).read_all()
        times.append(time.perf_counter() - start)
        client_cpu.append(time.process_time() - cpu)
        serve_cpu.append(server_cpu() - served)
        assert table.num_rows == args.rows, table.num_rows
    # The first fetch warms the connection.
    times, client_cpu, serve_cpu = times[1:], client_cpu[1:], serve_cpu[1:]
    print(f"{args.rows:,} rows as Arrow: fetch {statistics.median(times):.3f} s median "
          f"(runs {', '.join(f'{t:.3f}' for t in times)}); CPU per fetch: server "
          f"{statistics.median(serve_cpu):.2f} s, client {statistics.median(client_cpu):.2f} s")
    proc.terminate()


if __name__ == "__main__":
    main()
