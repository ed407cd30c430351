use std::process::ExitCode;

fn main() -> ExitCode {
    match wgf::cli::main() {
        Ok(code) => code,
        Err(e) => {
            // User errors arrive here already phrased with place and fix; no backtrace.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
