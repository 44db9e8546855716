//! `from: list`: the hosts of a hostlist expression (`node[01-04]`), in its order.

use super::sources::Source;
use super::{hostlist, Host};
use crate::spec::hosts::HostSource;

pub(super) struct List;

impl Source for List {
    fn name(&self) -> &'static str {
        "list"
    }

    fn what(&self, s: &HostSource, _job: Option<&str>) -> Option<String> {
        s.list.clone()
    }

    fn read(&self, s: &HostSource) -> Result<Vec<Host>, String> {
        let list = s.list.as_deref().unwrap_or_default();
        hostlist::expand(list)?
            .into_iter()
            .map(|n| Host::checked(n, None))
            .collect()
    }
}
