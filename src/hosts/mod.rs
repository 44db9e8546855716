//! Machines from where users get them (SPEC 14.1): host sources (Slurm, OAR, PBS, node files,
//! Ansible inventories, host lists, commands) resolved into cluster machines, and Slurm's
//! hostlist syntax.

mod ansible;
mod command;
pub mod hostlist;
mod nodefile;
mod resolve;
mod roles;
mod slurm;
mod sources;

pub use resolve::{resolve, resolved_yaml, Resolved};
pub use sources::{allocation, Host};
