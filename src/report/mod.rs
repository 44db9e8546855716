//! Presentation: terminal tables, plots, HTML, JUnit, Markdown. No statistics here.

pub mod compare;
