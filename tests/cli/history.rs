//! `mpf history`: change points across the result sets of one experiment (SPEC §12.4).

mod spa;
