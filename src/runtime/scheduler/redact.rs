//! What a run reports never shows its secrets: each task record (before the
//! observer, the journal and the outcome see it), the result and the
//! diagnostics go through [`Secrets`] here. The values tasks pass each other
//! are left alone. Nothing is scanned when the run has no secret values.

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::runtime::{TaskRecord, Val};
use crate::secret::Secrets;

pub(super) fn record(secrets: &Secrets, record: &mut TaskRecord) {
    if secrets.is_empty() {
        return;
    }
    value(secrets, &mut record.output);
    if let Some(error) = &mut record.error {
        secrets.redact_in(error);
    }
    for note in &mut record.notes {
        secrets.redact_in(note);
    }
    for attempt in &mut record.history {
        if let Some(error) = &mut attempt.error {
            secrets.redact_in(error);
        }
    }
    if let Some(logs) = &record.logs {
        if secrets.found_in(&logs.stdout) || secrets.found_in(&logs.stderr) {
            let mut logs = (**logs).clone();
            secrets.redact_in(&mut logs.stdout);
            secrets.redact_in(&mut logs.stderr);
            record.logs = Some(Arc::new(logs));
        }
    }
}

/// A value, copied only when it holds a secret.
pub(super) fn value(secrets: &Secrets, value: &mut Option<Val>) {
    if secrets.is_empty() {
        return;
    }
    if let Some(redacted) = value.as_deref().and_then(|v| secrets.redact_value(v)) {
        *value = Some(Arc::new(redacted));
    }
}

pub(super) fn diagnostics(secrets: &Secrets, diagnostics: &mut [Diagnostic]) {
    if secrets.is_empty() {
        return;
    }
    for diag in diagnostics {
        secrets.redact_in(&mut diag.message);
        for label in diag.primary.iter_mut().chain(&mut diag.labels) {
            secrets.redact_in(&mut label.message);
        }
        if let Some(help) = &mut diag.help {
            secrets.redact_in(help);
        }
        for note in &mut diag.notes {
            secrets.redact_in(note);
        }
    }
}

/// An approver that shows the person (and the store) a question with the
/// run's secrets as `***`.
pub(super) struct Approver {
    pub inner: Arc<dyn crate::agent::Approver>,
    pub secrets: Arc<Secrets>,
}

impl crate::agent::Approver for Approver {
    fn ask<'a>(
        &'a self,
        question: &'a crate::agent::Question,
        withdrawal: &'a crate::agent::Withdrawal,
    ) -> crate::agent::approval::AskFuture<'a> {
        Box::pin(async move {
            let mut shown = question.clone();
            self.secrets.redact_in(&mut shown.text);
            for value in shown.details.values_mut() {
                if let Some(redacted) = self.secrets.redact_value(value) {
                    *value = redacted;
                }
            }
            self.inner.ask(&shown, withdrawal).await
        })
    }
}
