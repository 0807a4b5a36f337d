//! How `flow` writes to the terminal, set once from the global flags: colour
//! (`--color auto|always|never`, `NO_COLOR`, `CLICOLOR_FORCE`) and how much
//! it says (`-q`, the default, `-v`, `-vv`).

use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`: when to colour what `flow` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set (`CLICOLOR_FORCE`
    /// colours also when not on a terminal).
    #[default]
    Auto,
    /// Always colour, whatever the output is and whatever `NO_COLOR` says.
    Always,
    /// Never colour.
    Never,
}

/// How much `flow` says on stderr while it works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: no progress, no summary; only errors.
    Quiet,
    /// Progress (a live display on a terminal; failures, retries and a
    /// status line every few seconds otherwise) and a closing summary.
    #[default]
    Normal,
    /// `-v`: a line for every task that ends, also on a terminal.
    Verbose,
    /// `-vv`: also a line for every task as it starts, with its command.
    Debug,
}

impl Verbosity {
    /// The level of `-q` and a count of `-v`.
    pub fn from_flags(quiet: bool, verbose: u8) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            (false, _) => Verbosity::Debug,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Style {
    color: ColorChoice,
    verbosity: Verbosity,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets the style for the whole process (the first call wins); before it,
/// the defaults hold (`--color auto`, normal verbosity).
pub fn set(color: ColorChoice, verbosity: Verbosity) {
    let _ = STYLE.set(Style { color, verbosity });
    // indicatif draws with `console`, which has its own idea of colour.
    console::set_colors_enabled_stderr(color_stderr());
}

fn style() -> Style {
    STYLE.get().copied().unwrap_or(Style {
        color: ColorChoice::Auto,
        verbosity: Verbosity::Normal,
    })
}

/// How much to say.
pub fn verbosity() -> Verbosity {
    style().verbosity
}

/// Whether to colour what goes to stderr (diagnostics, progress, the summary).
pub fn color_stderr() -> bool {
    color_for(std::io::stderr().is_terminal())
}

/// Whether to colour an output that is a terminal or not.
pub fn color_for(terminal: bool) -> bool {
    resolve(style().color, terminal, |name| std::env::var_os(name))
}

/// `--color` against the environment: `never` and `always` win; `auto`
/// colours a terminal unless `NO_COLOR` is set to anything, and anything
/// when `CLICOLOR_FORCE` is set (to other than `0`).
fn resolve(
    choice: ColorChoice,
    terminal: bool,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
    let force = env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && (terminal || force),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(
        vars: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<std::ffi::OsString> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.into())
    }

    #[test]
    fn the_flag_wins_then_no_color_then_clicolor_force_then_the_terminal() {
        use ColorChoice::*;
        assert!(resolve(Always, false, with(&[("NO_COLOR", "1")])));
        assert!(!resolve(Never, true, with(&[("CLICOLOR_FORCE", "1")])));
        assert!(!resolve(Auto, true, with(&[("NO_COLOR", "1")])));
        assert!(resolve(Auto, true, with(&[("NO_COLOR", "")])));
        assert!(!resolve(Auto, false, with(&[])));
        assert!(resolve(Auto, false, with(&[("CLICOLOR_FORCE", "1")])));
        assert!(!resolve(Auto, false, with(&[("CLICOLOR_FORCE", "0")])));
        assert!(!resolve(
            Auto,
            true,
            with(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")])
        ));
    }

    #[test]
    fn quiet_wins_over_verbose_counts() {
        assert_eq!(Verbosity::from_flags(true, 2), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, 0), Verbosity::Normal);
        assert_eq!(Verbosity::from_flags(false, 1), Verbosity::Verbose);
        assert_eq!(Verbosity::from_flags(false, 3), Verbosity::Debug);
    }
}
