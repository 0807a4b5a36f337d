//! Where a second shell parses a value again. Flow passes each `${…}` of a
//! command by reference, so the first shell never runs the value; but when
//! the reference sits in text that a second shell reads as code
//! (`bash -c '…'`, `eval`, `ssh host '…'`, `echo … | sh`, a here-document fed
//! to `sh`), the first shell expands it into that code. This module reads
//! enough of the shell language (words, quotes, substitutions, pipelines,
//! groups, here-documents) to find those places; a wrong guess only costs a
//! warning, never the command.

mod script;

use script::{Script, Word};

/// The second shell that parses a value of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondShell {
    /// The command string of `bash -c '…'` (also `sh`, `zsh`, … and `su -c`).
    CommandString {
        /// The shell as written, with its option: `bash -c`.
        shell: String,
    },
    /// The arguments of `eval`.
    Eval,
    /// The command `ssh` sends to the remote host's shell.
    Ssh,
    /// Text a shell reads as its script: piped into it (`echo … | sh`), or
    /// given as a here-document or here-string.
    Input {
        /// The shell as written: `sh`, `bash`, `ssh`.
        shell: String,
        /// How the text reaches it: `text piped into`, `a here-document fed to`.
        via: &'static str,
    },
}

impl SecondShell {
    /// Where the value sits, as a phrase: "in the command string of `bash -c`".
    pub fn place(&self) -> String {
        match self {
            SecondShell::CommandString { shell } => format!("in the command string of `{shell}`"),
            SecondShell::Eval => "in the arguments of `eval`".into(),
            SecondShell::Ssh => "in the command `ssh` sends to the remote shell".into(),
            SecondShell::Input { shell, via } => format!("in {via} `{shell}`"),
        }
    }

    /// Who parses it again: "`bash`", "`eval`", "the remote shell".
    pub fn parser(&self) -> String {
        match self {
            SecondShell::CommandString { shell } => {
                format!("`{}`", shell.split(' ').next().unwrap_or(shell))
            }
            SecondShell::Eval => "`eval`".into(),
            SecondShell::Ssh => "the remote shell".into(),
            SecondShell::Input { shell, .. } if shell == "ssh" => "the remote shell".into(),
            SecondShell::Input { shell, .. } => format!("`{shell}`"),
        }
    }
}

const PIPED: &str = "text piped into";
const HEREDOC: &str = "a here-document fed to";
const HERESTRING: &str = "a here-string fed to";

/// The shells whose `-c` takes a command string, and which read a script on
/// stdin without one.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "fish", "csh", "tcsh",
];
/// Commands that run the command after their own options and arguments.
const WRAPPERS: &[&str] = &[
    "sudo", "doas", "env", "exec", "command", "builtin", "nohup", "time", "nice", "timeout",
    "stdbuf", "setsid",
];
/// `ssh` options that take a value.
const SSH_VALUED: &str = "BbcDEeFIiJLlmOopQRSWw";

/// For each interpolation of a command, given as its parts in order
/// (`Some(text)` for literal text, `None` for an interpolation), the second
/// shell that parses its value again, if any.
pub fn second_shells<'t>(
    parts: impl IntoIterator<Item = Option<&'t str>>,
) -> Vec<Option<SecondShell>> {
    let (script, values) = Script::read(parts);
    let mut found = vec![None; values];
    judge(&script, &mut found);
    found
}

/// Marks every value that a second shell parses.
fn judge(script: &Script, found: &mut [Option<SecondShell>]) {
    let mut mark = |values: &[usize], shell: &SecondShell| {
        for v in values {
            if let Some(slot) = found.get_mut(*v) {
                slot.get_or_insert_with(|| shell.clone());
            }
        }
    };
    let mut stdin_shells = vec![None; script.commands.len()];
    for (id, command) in script.commands.iter().enumerate() {
        let words = &command.words;
        for (at, word) in words.iter().enumerate() {
            if let Some(shell) = word.lit().and_then(shell_name) {
                if let Some(script) = command_string(&words[at + 1..]) {
                    let shell = SecondShell::CommandString {
                        shell: format!("{shell} -c"),
                    };
                    mark(&script.values, &shell);
                }
            }
        }
        let Some(name_at) = command_name(words) else {
            continue;
        };
        let args = &words[name_at + 1..];
        match words[name_at].lit().map(basename) {
            Some("eval") => {
                for arg in args {
                    mark(&arg.values, &SecondShell::Eval);
                }
            }
            Some("su" | "runuser") => {
                for (i, arg) in args.iter().enumerate() {
                    let shell = SecondShell::CommandString {
                        shell: format!("{} -c", words[name_at].text),
                    };
                    match arg.lit() {
                        Some("-c" | "--command") => {
                            if let Some(next) = args.get(i + 1) {
                                mark(&next.values, &shell);
                            }
                        }
                        _ if arg.text.starts_with("--command=") => mark(&arg.values, &shell),
                        _ => {}
                    }
                }
            }
            Some("ssh") => match ssh_command(args) {
                Some(remote) => {
                    for arg in remote {
                        mark(&arg.values, &SecondShell::Ssh);
                    }
                    if remote
                        .first()
                        .and_then(|w| w.lit())
                        .and_then(shell_name)
                        .is_some()
                        && reads_stdin(&remote[1..])
                    {
                        stdin_shells[id] = Some("ssh".to_string());
                    }
                }
                None => stdin_shells[id] = Some("ssh".to_string()),
            },
            Some(name) if shell_name(name).is_some() && reads_stdin(args) => {
                stdin_shells[id] = Some(name.to_string());
            }
            _ => {}
        }
        if let Some(shell) = &stdin_shells[id] {
            for &(v, via) in &command.input {
                let shell = SecondShell::Input {
                    shell: shell.clone(),
                    via,
                };
                mark(&[v], &shell);
            }
        }
    }
    for elements in &script.pipelines {
        for (k, element) in elements.iter().enumerate().skip(1) {
            let [id] = element.as_slice() else { continue };
            let Some(shell) = &stdin_shells[*id] else {
                continue;
            };
            let second = SecondShell::Input {
                shell: shell.clone(),
                via: PIPED,
            };
            for upstream in elements[..k].iter().flatten() {
                let command = &script.commands[*upstream];
                let printer = command_name(&command.words).filter(|&at| {
                    matches!(
                        command.words[at].lit().map(basename),
                        Some("echo" | "printf")
                    )
                });
                if let Some(at) = printer {
                    for arg in &command.words[at + 1..] {
                        mark(&arg.values, &second);
                    }
                }
                for (v, _) in &command.input {
                    mark(&[*v], &second);
                }
            }
        }
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The shell a word names (`bash`, `/bin/sh`), if it names one.
fn shell_name(word: &str) -> Option<&str> {
    let name = basename(word);
    SHELLS.contains(&name).then_some(name)
}

/// Where the command's program stands: after assignments (`X=1`) and
/// wrappers (`sudo`, `env`, `timeout 5`) with their options.
fn command_name(words: &[Word]) -> Option<usize> {
    let mut at = 0;
    let assignment = |w: &Word| {
        w.text.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
    };
    while words.get(at).is_some_and(assignment) {
        at += 1;
    }
    while let Some(wrapper) = words
        .get(at)
        .and_then(Word::lit)
        .map(basename)
        .filter(|w| WRAPPERS.contains(w))
    {
        at += 1;
        while let Some(word) = words.get(at) {
            if word.text.starts_with('-') && word.text.len() > 1 {
                let valued = matches!(wrapper, "sudo" | "doas")
                    && matches!(word.text.as_str(), "-u" | "-g" | "-C" | "-h" | "-p");
                at += if valued { 2 } else { 1 };
            } else if wrapper == "env" && assignment(word)
                || wrapper == "timeout" && word.text.starts_with(|c: char| c.is_ascii_digit())
            {
                at += 1;
            } else {
                break;
            }
        }
    }
    (at < words.len()).then_some(at)
}

/// The command string after a shell's options, when they include `-c`.
fn command_string(args: &[Word]) -> Option<&Word> {
    let mut at = 0;
    let mut dash_c = false;
    while let Some(text) = args.get(at).and_then(Word::lit) {
        if text == "--" {
            at += 1;
            break;
        }
        if text.starts_with("--") {
            // `--rcfile FILE`, `--init-file FILE`; other long options stand alone.
            at += if matches!(text, "--rcfile" | "--init-file") {
                2
            } else {
                1
            };
            continue;
        }
        if !(text.starts_with('-') || text.starts_with('+')) || text.len() < 2 {
            break;
        }
        dash_c |= text.starts_with('-') && text.contains('c');
        at += if text.contains(['o', 'O']) { 2 } else { 1 };
    }
    if dash_c {
        args.get(at)
    } else {
        None
    }
}

/// Whether a shell given these arguments reads its script from stdin: no
/// script operand, or `-s`, or `-` as the script.
fn reads_stdin(args: &[Word]) -> bool {
    let mut at = 0;
    while let Some(arg) = args.get(at) {
        let Some(text) = arg.lit() else { return false };
        let short = text.len() > 1 && text.starts_with(['-', '+']) && !text.starts_with("--");
        match text {
            "-" => return true,
            "--" => return at + 1 == args.len(),
            _ if short && text.starts_with('-') && text.contains('s') => return true,
            _ if short && text.starts_with('-') && text.contains('c') => return false,
            _ if short => at += if text.contains(['o', 'O']) { 2 } else { 1 },
            _ if text.starts_with("--") => at += 1,
            _ => return false,
        }
    }
    true
}

/// The words `ssh` sends as the remote command, after its options and the
/// destination; `None` when it sends none (the remote shell reads stdin).
fn ssh_command(args: &[Word]) -> Option<&[Word]> {
    let mut at = 0;
    while let Some(word) = args.get(at) {
        let text = &word.text;
        if text == "--" {
            at += 1;
            break;
        }
        if !text.starts_with('-') || text.len() < 2 {
            break;
        }
        at += 1;
        // `-p22` carries its value; `-p 22` takes the next word.
        let letters = &text[1..];
        if let Some(i) = letters.find(|c| SSH_VALUED.contains(c)) {
            if i + 1 == letters.len() {
                at += 1;
            }
        }
    }
    args.get(at + 1..).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second shell of each interpolation between `texts`, by `place()`.
    fn found(texts: &[&str]) -> Vec<Option<String>> {
        let mut parts = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            if i > 0 {
                parts.push(None);
            }
            parts.push(Some(*text));
        }
        second_shells(parts)
            .into_iter()
            .map(|s| s.map(|s| s.place()))
            .collect()
    }

    fn flagged(texts: &[&str]) -> Vec<bool> {
        found(texts).into_iter().map(|s| s.is_some()).collect()
    }

    #[test]
    fn command_strings_of_shells_are_parsed_again() {
        assert_eq!(
            found(&["bash -c 'echo ", "'"]),
            [Some("in the command string of `bash -c`".to_string())]
        );
        assert_eq!(flagged(&["sh -c \"echo ", "\""]), [true]);
        assert_eq!(flagged(&["/bin/sh -ec 'cd /; rm ", "'"]), [true]);
        assert_eq!(flagged(&["bash -o pipefail -c 'x | ", "'"]), [true]);
        assert_eq!(flagged(&["sudo -u root bash -lc ", ""]), [true]);
        assert_eq!(flagged(&["find . -exec sh -c 'echo {} ", "' \\;"]), [true]);
        assert_eq!(flagged(&["docker exec box sh -c 'ls ", "'"]), [true]);
        assert_eq!(flagged(&["echo \"$(bash -c 'echo ", "')\""]), [true]);
        assert_eq!(flagged(&["su - deploy -c 'make ", "'"]), [true]);
        // Arguments after the command string are `$0`, `$1`…: not parsed.
        assert_eq!(flagged(&["bash -c 'echo \"$1\"' _ ", ""]), [false]);
        assert_eq!(flagged(&["sh -c 'echo \"$0\"' ", ""]), [false]);
        assert_eq!(flagged(&["bash ./deploy.sh ", ""]), [false]);
        assert_eq!(flagged(&["grep -c ", " sh.log"]), [false]);
        assert_eq!(flagged(&["echo ", "; bash -c 'ls'"]), [false]);
    }

    #[test]
    fn eval_and_ssh_parse_their_arguments_again() {
        assert_eq!(flagged(&["eval \"echo ", "\""]), [true]);
        assert_eq!(flagged(&["X=1 eval echo ", ""]), [true]);
        assert_eq!(flagged(&["echo eval ", ""]), [false]);
        assert_eq!(flagged(&["ssh host 'ls ", "'"]), [true]);
        assert_eq!(
            flagged(&["ssh -p 22 -o BatchMode=yes ", " cat ", ""]),
            [false, true]
        );
        assert_eq!(flagged(&["ssh -i key ", " uptime"]), [false]);
        assert_eq!(flagged(&["rsync -e ssh ", " host:dir"]), [false]);
        assert_eq!(flagged(&["timeout 5 ssh host rm ", ""]), [true]);
    }

    #[test]
    fn text_fed_to_a_shell_is_parsed_again() {
        assert_eq!(
            found(&["echo ", " | sh"]),
            [Some("in text piped into `sh`".to_string())]
        );
        assert_eq!(
            flagged(&["printf '%s\\n' \"", "\" | bash -s -- arg"]),
            [true]
        );
        assert_eq!(flagged(&["{ echo set -e; echo ", "; } | sudo sh"]), [true]);
        assert_eq!(flagged(&["echo ", " | ssh host"]), [true]);
        assert_eq!(flagged(&["cat <<EOF | sh\nrm ", "\nEOF\n"]), [true]);
        assert_eq!(
            found(&["sh <<EOF\nrm ", "\nEOF\necho ", ""]),
            [Some("in a here-document fed to `sh`".to_string()), None]
        );
        assert_eq!(flagged(&["bash <<< ", ""]), [true]);
        // Not text run by a shell.
        assert_eq!(flagged(&["echo ", " | grep sh"]), [false]);
        assert_eq!(flagged(&["cat ", " | sh"]), [false]);
        assert_eq!(flagged(&["echo ", " | sh ./script.sh"]), [false]);
        assert_eq!(flagged(&["echo ", " && echo hi | sh"]), [false]);
        assert_eq!(flagged(&["cat <<EOF\n", "\nEOF\n"]), [false]);
    }

    #[test]
    fn odd_text_never_panics() {
        for text in [
            "",
            "(",
            ")",
            "}",
            "fi",
            "$(",
            "`",
            "'",
            "\"",
            "<<",
            "<<<",
            "case x in a) ;; esac",
            "a\\",
        ] {
            found(&[text, text]);
        }
        let deep = "$(".repeat(10_000);
        assert_eq!(flagged(&[&deep, ""]), [false]);
        let deep = "bash -c \"$(".repeat(1_000);
        assert_eq!(flagged(&[&deep, ""]), [true]);
    }
}
