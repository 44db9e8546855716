//! Machines from where users get them (SPEC 14.1): host sources (Slurm, OAR, PBS, node files,
//! Ansible inventories, host lists, commands) resolved into cluster machines, and Slurm's
//! hostlist syntax.

pub mod hostlist;
