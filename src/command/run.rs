//! `mpf run`: what the binary decides once a session has ended. The request of a run is
//! `runner::session::RunRequest` and its outcome `runner::SessionOutcome`; this file holds
//! the exit code that outcome implies (SPEC 20).

use crate::error::exit;
use crate::runner::SessionOutcome;

/// The exit code of a session: 130 interrupted, 4 a machine lost, 75 stopped at a time limit,
/// 1 runs of this session failed (or the first ones all failed the same way, or a cleanup
/// failed), else 0. A resumed set's earlier failures were reported by the session that ran
/// them and do not count here.
pub fn exit_code(s: &SessionOutcome) -> i32 {
    if s.interrupted {
        exit::INTERRUPTED
    } else if !s.machines_lost.is_empty() {
        // A machine that stopped answering is the cluster's fault, not the runs'.
        exit::UNREACHABLE
    } else if s.deadline.is_some() {
        // Not done: a job chain goes on with `--resume` (failures show in the summary line).
        exit::TEMPFAIL
    } else if s.failed > 0 || s.early_stop.is_some() || s.cleanup_failed {
        exit::FAILURE
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::deadline::DeadlineStop;
    use std::time::{Duration, SystemTime};

    #[test]
    fn the_exit_code_ladder() {
        let ok = SessionOutcome {
            ok: 3,
            set_ok: 3,
            ..SessionOutcome::default()
        };
        assert_eq!(exit_code(&ok), exit::OK);
        // Earlier sessions' failures of a resumed set do not count.
        let resumed = SessionOutcome {
            set_failed: 2,
            ..ok.clone()
        };
        assert_eq!(exit_code(&resumed), exit::OK);
        let failed = SessionOutcome {
            failed: 1,
            ..ok.clone()
        };
        assert_eq!(exit_code(&failed), exit::FAILURE);
        for s in [
            SessionOutcome {
                early_stop: Some("exit 1".into()),
                ..ok.clone()
            },
            SessionOutcome {
                cleanup_failed: true,
                ..ok.clone()
            },
        ] {
            assert_eq!(exit_code(&s), exit::FAILURE);
        }
        let deadline = SessionOutcome {
            deadline: Some(DeadlineStop {
                source: "--until".into(),
                end: SystemTime::UNIX_EPOCH,
                left: Duration::from_secs(1),
                needed: Duration::from_secs(2),
            }),
            ..failed.clone()
        };
        assert_eq!(exit_code(&deadline), exit::TEMPFAIL);
        let lost = SessionOutcome {
            machines_lost: vec!["n1".into()],
            ..deadline.clone()
        };
        assert_eq!(exit_code(&lost), exit::UNREACHABLE);
        let interrupted = SessionOutcome {
            interrupted: true,
            ..lost
        };
        assert_eq!(exit_code(&interrupted), exit::INTERRUPTED);
    }
}
