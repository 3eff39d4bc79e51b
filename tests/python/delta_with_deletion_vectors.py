"""A Delta table with deletion vectors, as Spark or Databricks write them,
for tests/delta.rs (no writer on PyPI writes them): Python's deltalake
writes two files, then this script deletes rows of each with a vector,
by the protocol's "Deletion Vector Format": the 3,000-row file (row
groups of 1,000) loses rows 0-999, every 7th row after them and its last
row, through a vector in a file beside the data (storage type `u`); the
100-row file loses rows 0, 1, 98 and 99 through a vector inline in the
log (`i`). Prints the new version and how many rows were deleted.

    python delta_with_deletion_vectors.py TABLE_FOLDER
"""
import json, os, struct, sys, uuid, zlib, time
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake, WriterProperties

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
def z85(b):
    assert len(b) % 4 == 0
    out = []
    for i in range(0, len(b), 4):
        v = int.from_bytes(b[i:i+4], "big")
        chunk = []
        for _ in range(5):
            chunk.append(Z85[v % 85]); v //= 85
        out.extend(reversed(chunk))
    return "".join(out)

def treemap(rows):
    # One 32-bit map (high bits 0) of array containers, portable form without runs.
    groups = {}
    for r in sorted(rows):
        groups.setdefault(r >> 16, []).append(r & 0xFFFF)
    keys = sorted(groups)
    head = struct.pack("<QI", 1, 0) + struct.pack("<II", 12346, len(keys))
    desc = b"".join(struct.pack("<HH", k, len(groups[k]) - 1) for k in keys)
    body = b"".join(struct.pack("<" + "H" * len(groups[k]), *groups[k]) for k in keys)
    offsets, at = [], 8 + len(desc) + 4 * len(keys)
    for k in keys:
        offsets.append(at); at += 2 * len(groups[k])
    return head + desc + b"".join(struct.pack("<I", o) for o in offsets) + body

MAGIC = struct.pack("<I", 1681511377)
path = sys.argv[1]
n = 3000
write_deltalake(path, pa.table({"id": pa.array(range(n), pa.int64()), "part": ["a"] * n}),
                writer_properties=WriterProperties(max_row_group_size=1000))
write_deltalake(path, pa.table({"id": pa.array(range(n, n + 100), pa.int64()), "part": ["b"] * 100}),
                mode="append")
dt = DeltaTable(path)
adds = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
actions = [{"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                         "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}}]
now = int(time.time() * 1000)
deleted = {}
for add in adds:
    ids_in_file = n if add["num_records"] == n else 100
    if ids_in_file == n:
        # Rows 0..999 (the whole first row group), every 7th row after, and the last.
        rows = sorted(set(range(1000)) | set(range(1000, n, 7)) | {n - 1})
        bitmap = MAGIC + treemap(rows)
        u = uuid.uuid4()
        with open(os.path.join(path, f"deletion_vector_{u}.bin"), "wb") as f:
            f.write(b"\x01" + struct.pack(">I", len(bitmap)) + bitmap + struct.pack(">I", zlib.crc32(bitmap)))
        dv = {"storageType": "u", "pathOrInlineDv": z85(u.bytes), "offset": 1,
              "sizeInBytes": len(bitmap), "cardinality": len(rows)}
        deleted["big"] = rows
    else:
        rows = [0, 1, 98, 99]
        bitmap = MAGIC + treemap(rows)
        bitmap += b"\x00" * (-len(bitmap) % 4)
        dv = {"storageType": "i", "pathOrInlineDv": z85(bitmap), "sizeInBytes": len(bitmap),
              "cardinality": len(rows)}
        deleted["small"] = rows
    actions.append({"remove": {"path": add["path"], "deletionTimestamp": now, "dataChange": True,
                               "partitionValues": {}, "size": add["size_bytes"]}})
    stats = json.dumps({"numRecords": add["num_records"]})
    actions.append({"add": {"path": add["path"], "partitionValues": {}, "size": add["size_bytes"],
                            "modificationTime": now, "dataChange": True, "stats": stats,
                            "deletionVector": dv}})
actions.append({"commitInfo": {"timestamp": now, "operation": "DELETE"}})
version = dt.version() + 1
with open(os.path.join(path, "_delta_log", f"{version:020d}.json"), "x") as f:
    f.write("\n".join(json.dumps(a) for a in actions) + "\n")
print(json.dumps({"version": version, "deleted": sum(len(v) for v in deleted.values())}))
sys.stdout.flush(); os._exit(0)
