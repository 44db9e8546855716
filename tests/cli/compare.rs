//! `mpf compare`: matching, verdicts, outputs and exit codes.

mod scipy;
