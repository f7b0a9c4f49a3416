//! The `case-harness` binary: everything lives in the library; see [`case_harness::cli`].

// mimalloc instead of glibc's malloc: the adapter's two workers free on one thread what the
// other allocated, and glibc then takes the other arena's lock (a futex per request at
// concurrency 64); mimalloc frees to the owning thread without one. Its own CPU per forwarded
// request fell from 40–45 to 28–33 µs (BENCHMARKS.md, "Fifth round"). `no_thp` keeps peak RSS
// at 18 MiB (26 MiB with transparent huge pages). Only the binary: the library, in a test
// process of another crate, leaves the allocator to that crate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    case_harness::cli::main()
}
