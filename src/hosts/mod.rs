//! Machines from where users get them (SPEC 14.1): host sources (Slurm, OAR, PBS, node files,
//! Ansible inventories, host lists, commands) resolved into cluster machines, and Slurm's
//! hostlist syntax.

mod ansible;
mod cluster_source;
mod command;
mod hardware;
pub(crate) use crate::spec::hostlist;
mod list;
mod nodefile;
mod resolve;
mod roles;
mod slurm;
mod sources;

pub(crate) use cluster_source::{ClusterSource, Loaded};
pub(crate) use hardware::hardware_changes;
pub use resolve::machines_table;
pub(crate) use resolve::{assign_roles, read, resolved_yaml, session_machines, Resolved};
pub(crate) use sources::{allocation, unavailable, Host};

/// Every host source that reads hosts, one file each; `spec::hosts::SOURCE_KINDS` says what
/// each reads at load. A new source is one line here and one there.
pub(crate) static SOURCES: &[&dyn sources::Source] = &[
    &slurm::Slurm,
    &nodefile::OAR,
    &nodefile::PBS,
    &nodefile::FILE,
    &ansible::Ansible,
    &list::List,
    &command::FromCommand,
];
