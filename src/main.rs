//! The `quiver` binary: parses the command line and turns the outcome into
//! an exit status. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

// mimalloc, as datafusion-cli uses: with glibc's allocator the same top-k
// scan decoded 25 to 50% slower inside `quiver serve` (more threads, more
// arenas) than in the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = quiver::cli::Args::parse();
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
