use std::process::ExitCode;

fn main() -> ExitCode {
    restore_sigpipe();
    match wgf::cli::main() {
        Ok(code) => code,
        Err(e) => {
            // User errors arrive here already phrased with place and fix; no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `wgf status | head` should end quietly like any Unix tool, not panic on a closed stdout: Rust ignores SIGPIPE
/// by default, so restore the default action.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
