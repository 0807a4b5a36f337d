//! `flow completions SHELL` and `flow man [COMMAND]`: the shell completion
//! script and the manual page, made from the command line's own definition
//! (so they never fall behind it), printed on stdout.

use std::io::Write as _;

use clap::CommandFactory;

use super::{exit, Cli};

/// The shells `flow completions` writes for.
pub use clap_complete::Shell;

/// Prints the completion script for `shell`.
pub fn completions(shell: Shell) -> u8 {
    let mut command = Cli::command();
    // Written to memory first: clap_complete panics when it cannot write
    // (`flow completions bash | head -1` closes the pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "flow", &mut script);
    write_out(&script)
}

/// Prints the manual page of `flow`, or of one of its commands, as roff.
pub fn man(name: Option<&str>) -> u8 {
    let mut command = Cli::command();
    // Built: each command then has its page's name (`flow-run`) and the
    // global flags.
    command.build();
    let page = match name {
        None => command,
        Some(name) => match command.find_subcommand(name) {
            Some(sub) => sub.clone(),
            None => {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                errln!(
                    "error: `flow` has no command `{name}`; the commands are {}",
                    names.join(", ")
                );
                return exit::USAGE;
            }
        },
    };
    let source = format!("flow {}", env!("CARGO_PKG_VERSION"));
    let mut roff = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).source(source).render(&mut roff) {
        errln!("error: cannot make the manual page: {e}");
        return exit::FAILED;
    }
    write_out(&title_first(&String::from_utf8_lossy(&roff)))
}

/// The page with its `.TH` title line first, as man pages begin (clap_mangen
/// puts its definition of the apostrophe string before it; it still holds
/// after the title).
fn title_first(roff: &str) -> Vec<u8> {
    let mut lines: Vec<&str> = roff.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let title = lines.remove(at);
        lines.insert(0, title);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text.into_bytes()
}

/// Writes bytes to stdout; a closed pipe is no error.
fn write_out(bytes: &[u8]) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            errln!("error: cannot write to stdout: {e}");
            exit::FAILED
        }
    }
}
