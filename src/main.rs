//! The `quiver` binary: parses the command line and turns the outcome into
//! an exit status. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

// mimalloc, as datafusion-cli uses: with glibc's allocator the same top-k
// scan decoded 25 to 50% slower inside `quiver serve` (more threads, more
// arenas) than in the CLI. Built without transparent huge pages (the
// `no_thp` feature): mimalloc otherwise asks for them on its arenas, and
// where the kernel then compacts memory to find them a query run after a
// pause spent 0.2 to 0.5 s of system time on it (a 0.35 s `embed` of 833k
// titles took 0.5 to 0.74 s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = quiver::cli::Args::parse();
    quiver::message::quiet_panics();
    // `QUIVER_SIMD=portable|avx2|avx512` caps the vector instructions the
    // kernels use (to rule out a faulty path, or to compare them).
    if let Some(cap) = std::env::var_os("QUIVER_SIMD") {
        match quiver_engine::simd::Level::parse(&cap.to_string_lossy()) {
            Some(level) => quiver_engine::simd::limit(level),
            None => {
                eprintln!("warning: QUIVER_SIMD={cap:?} is not portable, avx2 or avx512; ignored")
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(quiver::cli::main(args))
}
