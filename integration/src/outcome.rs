//! What one run of twinbox did, and the checks every test makes on it: the exit code,
//! stderr, and the one summary line of an account.

use std::process::Output;

/// What one run of twinbox did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The exit code; `None` if a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub(crate) fn from_output(output: Output) -> Outcome {
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with everything twinbox said unless it exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, Some(code), "unexpected exit status\n{self}");
        self
    }

    /// Panics unless the exit code is 0 and stderr is empty.
    #[track_caller]
    pub fn assert_success(&self) -> &Outcome {
        self.assert_code(0);
        assert_eq!(
            self.stderr, "",
            "a successful sync should print nothing on stderr\n{self}"
        );
        self
    }

    /// The stdout line of account `account`'s total (`Account NAME: ...`).
    #[track_caller]
    pub fn account_line(&self, account: &str) -> &str {
        let prefix = format!("Account {account}: ");
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one summary line for account {account}\n{self}"
        );
        lines[0]
    }

    /// The stdout lines of folder `folder` (`  FOLDER  3 copied to local`,
    /// `  FOLDER  ERROR: ...`).
    pub fn folder_lines(&self, folder: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|line| line.starts_with("  "))
            .filter(|line| {
                line.trim_start()
                    .strip_prefix(folder)
                    .is_some_and(|rest| rest.starts_with("  "))
            })
            .collect()
    }

    /// The one line of folder `folder` that is not an error (what it changed). Panics
    /// unless there is exactly one.
    #[track_caller]
    pub fn folder_line(&self, folder: &str) -> &str {
        let lines: Vec<&str> = self
            .folder_lines(folder)
            .into_iter()
            .filter(|line| !line.contains("  ERROR: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one summary line for folder {folder}\n{self}"
        );
        lines[0]
    }

    /// The error lines of folder `folder` (`  FOLDER  ERROR: ...`).
    pub fn folder_errors(&self, folder: &str) -> Vec<&str> {
        self.folder_lines(folder)
            .into_iter()
            .filter(|line| line.contains("  ERROR: "))
            .collect()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit status: {:?}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.code, self.stdout, self.stderr
        )
    }
}
