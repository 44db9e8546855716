//! The `mpf` binary: clap types and one module per subcommand; all logic lives in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    // From here on a signal never kills mpf half-way through writing a file.
    cli::signals::install();
    let mut code = match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            cli::console::err(&format!("error: {e}"));
            e.exit_code()
        }
    };
    if let Some(why) = cli::console::stdout_failure() {
        cli::console::err(&format!("error: failed to write to stdout: {why}"));
        if code == 0 {
            code = mpf::error::exit::FAILURE;
        }
    }
    ExitCode::from(code as u8)
}
