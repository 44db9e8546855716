//! A cluster machine that is a container (SPEC §18.2): `container: {engine, image, options,
//! host}`. The image and options are the user's words for the engine's command line: they go
//! to it as arguments of their own (quoted word by word when the engine runs over ssh), never
//! through a shell as text.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::de::{pos, shown};
use crate::error::{Error, Result};

pub(crate) use crate::exec::container::{image_problem, Engine, ImageTemplate};

/// Where the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerHost {
    /// On the machine mpf runs on.
    Local,
    /// On a remote machine reached over ssh: the destination (`user@host`) and the ssh
    /// settings of the machine `host:` names (or the container machine's own).
    Ssh {
        destination: String,
        port: Option<u16>,
        identity: Option<String>,
        ssh_options: Vec<String>,
    },
}

/// A machine's `container:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub engine: Engine,
    /// The image; with `template`, as written until the session renders the profile's first
    /// block's (`ImageTemplate::render`).
    pub image: String,
    /// `image:` naming a variable (`"{{ image }}"`, `localhost/bench:{{ tag }}`).
    pub template: Option<ImageTemplate>,
    /// Where `image:` is in the cluster file (line, column).
    pub image_at: (u64, u64),
    /// Arguments of `<engine> run` before the image, as written.
    pub options: Vec<String>,
    pub host: ContainerHost,
}

/// `text` as a template: `None` when it holds no `{{`; an error when it is not one
/// `{{ NAME }}` in an image reference.
fn parse_template(text: &str) -> Option<std::result::Result<ImageTemplate, String>> {
    let open = text.find("{{")?;
    let bad = || {
        format!(
            "container image '{}' is not an image nor one variable in an image (such as \"{{{{ image }}}}\" or localhost/bench:{{{{ tag }}}}: one {{{{ NAME }}}}, no filters)",
            shown(text)
        )
    };
    let Some(close) = text[open..].find("}}").map(|c| open + c) else {
        return Some(Err(bad()));
    };
    let name = text[open + 2..close].trim();
    let (prefix, suffix) = (&text[..open], &text[close + 2..]);
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest = format!("{prefix}{suffix}");
    if !ident
        || ["{{", "}}", "{%", "%}", "{#"]
            .iter()
            .any(|m| rest.contains(m))
    {
        return Some(Err(bad()));
    }
    if let Some(m) = image_problem(&format!("{prefix}x{suffix}")) {
        return Some(Err(m));
    }
    Some(Ok(ImageTemplate {
        variable: name.to_string(),
        prefix: prefix.to_string(),
        suffix: suffix.to_string(),
    }))
}

/// `container:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContainer {
    engine: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    #[serde(default)]
    options: Vec<Spanned<String>>,
    host: Option<Spanned<String>>,
}

/// The most options, and the longest one.
const MAX_OPTIONS: usize = 256;
const MAX_OPTION: usize = 4096;

/// An option is one argument of the engine's command line: any text but a control character
/// (a newline or NUL would cut it on the way to a remote engine).
fn option_problem(option: &str) -> Option<String> {
    if option == "--name" || option.starts_with("--name=") {
        return Some("container option --name: mpf names the container itself (mpf-<set>-<machine>), to find it again and remove it".into());
    }
    (option.len() > MAX_OPTION || option.chars().any(char::is_control)).then(|| {
        format!(
            "container option '{}' holds a control character or is longer than {MAX_OPTION} characters",
            shown(option)
        )
    })
}

/// Refuses a container image that names a variable other than the experiment's profile
/// variable (the one with `switch:`), or one of whose values does not make an image, at the
/// image's line in the cluster file.
pub(crate) fn check_images(
    cluster: &crate::spec::Cluster,
    exp: &crate::spec::Experiment,
) -> Result<()> {
    let profile = exp.profile.as_ref().map(|p| &exp.variables[p.variable]);
    for m in &cluster.machines {
        let Some((t, (line, column))) = m
            .container
            .as_ref()
            .and_then(|c| c.template.as_ref().map(|t| (t, c.image_at)))
        else {
            continue;
        };
        let err = |m: String| Error::input(&cluster.path, line, column, m);
        let Some(var) = profile.filter(|v| v.name == t.variable) else {
            let why = match exp.variables.iter().any(|v| v.name == t.variable) {
                true => "is not the experiment's profile variable",
                false => "is not a variable of the experiment",
            };
            return Err(err(format!(
                "machine {}: the container image names variable '{}', which {why}: an image may name only the variable with switch: (switch: [] when the image is all that changes with it)",
                m.hostname,
                shown(&t.variable)
            )));
        };
        for value in var.values.each() {
            t.render(&value)
                .map_err(|e| err(format!("machine {}: {e}", m.hostname)))?;
        }
    }
    Ok(())
}

impl RawContainer {
    /// `host:` as written, resolved against the cluster's machines once all are read.
    pub(super) fn host(&self) -> Option<Spanned<String>> {
        self.host.clone()
    }

    /// The container, its engine running here until `host:` is resolved.
    pub(super) fn check(&self, path: &Path, at: (u64, u64)) -> Result<Container> {
        let err = |(l, c): (u64, u64), m: String| Error::input(path, l, c, m);
        let engine = match &self.engine {
            None => Engine::Podman,
            Some(e) => match e.value.as_str() {
                "podman" => Engine::Podman,
                "docker" => Engine::Docker,
                other => {
                    return Err(err(
                        pos(e),
                        format!(
                            "container engine '{}' must be podman or docker",
                            shown(other)
                        ),
                    ))
                }
            },
        };
        let mut template = None;
        let image = match &self.image {
            Some(i) => match parse_template(&i.value) {
                Some(Ok(t)) => {
                    template = Some(t);
                    i.value.clone()
                }
                Some(Err(m)) => return Err(err(pos(i), m)),
                None => match image_problem(&i.value) {
                    None => i.value.clone(),
                    Some(m) => return Err(err(pos(i), m)),
                },
            },
            None => {
                return Err(err(
                    at,
                    "container: needs image: (the image to run, such as localhost/bench:1)".into(),
                ))
            }
        };
        if let Some(o) = self.options.get(MAX_OPTIONS) {
            return Err(err(
                pos(o),
                format!("container: at most {MAX_OPTIONS} options"),
            ));
        }
        let mut options = Vec::new();
        for o in &self.options {
            if let Some(m) = option_problem(&o.value) {
                return Err(err(pos(o), m));
            }
            options.push(o.value.clone());
        }
        Ok(Container {
            engine,
            image,
            template,
            image_at: self.image.as_ref().map_or(at, pos),
            options,
            host: ContainerHost::Local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<crate::spec::Cluster> {
        crate::spec::cluster::parse_cluster(Path::new("c.yaml"), text)
    }

    #[test]
    fn a_container_machine_is_read_with_where_its_engine_runs() {
        let c = parse(
            "machines:\n  - {hostname: h1, user: bob, port: 2222, role: s}\n  - hostname: localhost\n    container: {engine: docker, image: localhost/b:1, options: [--network, host], host: h1}\n    role: c\n  - {hostname: c2, container: {image: 'i:2'}, role: d}\n  - {hostname: c3, port: 22, container: {image: 'i:3', host: root@n9}, role: e}\n",
        )
        .unwrap();
        let m = &c.machines[1];
        assert!(!m.local, "a container named localhost is still a container");
        let ct = m.container.as_ref().unwrap();
        assert_eq!(
            (ct.engine, ct.image.as_str(), ct.options.as_slice()),
            (
                Engine::Docker,
                "localhost/b:1",
                &["--network".to_string(), "host".into()][..]
            )
        );
        assert_eq!(
            ct.host,
            ContainerHost::Ssh {
                destination: "bob@h1".into(),
                port: Some(2222),
                identity: None,
                ssh_options: vec![]
            }
        );
        let c2 = c.machines[2].container.as_ref().unwrap();
        assert_eq!(
            (c2.engine, &c2.host),
            (Engine::Podman, &ContainerHost::Local)
        );
        let c3 = c.machines[3].container.as_ref().unwrap();
        assert!(
            matches!(&c3.host, ContainerHost::Ssh { destination, port: Some(22), .. } if destination == "root@n9")
        );
    }

    #[test]
    fn container_errors_name_the_line() {
        let cases = [
            (
                "{engine: lxc, image: i}",
                "c.yaml:2:",
                "engine 'lxc' must be podman or docker",
            ),
            ("{options: [-v]}", "c.yaml:2:", "needs image:"),
            ("{image: '-v'}", "c.yaml:2:", "is not an image reference"),
            ("{image: 'a b'}", "c.yaml:2:", "is not an image reference"),
            (
                "{image: i, options: [\"a\\nb\"]}",
                "c.yaml:2:",
                "control character",
            ),
            ("{image: i, bogus: 1}", "c.yaml:2:", "bogus"),
            (
                "{image: i, options: [--name, x]}",
                "c.yaml:2:",
                "mpf names the container itself",
            ),
            (
                "{image: i, options: [--name=x]}",
                "c.yaml:2:",
                "mpf names the container itself",
            ),
            (
                "{image: i, host: '-oProxyCommand=x'}",
                "c.yaml:2:",
                "is not a host name",
            ),
            (
                "{image: i, host: 'r t@h'}",
                "c.yaml:2:",
                "is not a valid user name",
            ),
            (
                "{image: i, host: other}",
                "c.yaml:2:",
                "is a container machine itself",
            ),
        ];
        for (container, at, what) in cases {
            let text = format!(
                "machines:\n  - {{hostname: c, role: r, container: {container}}}\n  - {{hostname: other, role: o, container: {{image: j}}}}\n"
            );
            let e = parse(&text).expect_err(container).to_string();
            assert!(e.starts_with(at) && e.contains(what), "{container}: {e}");
        }
        let e =
            parse("machines:\n  - {hostname: c, role: r, local: true, container: {image: i}}\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("local: true do not go with container:"), "{e}");
    }

    #[test]
    fn an_image_may_name_one_variable_and_renders_like_a_literal() {
        let t = parse_template;
        assert!(t("localhost/b:1").is_none());
        let whole = t("{{ image }}").unwrap().unwrap();
        assert_eq!(whole.variable, "image");
        assert_eq!(
            whole.render(&serde_json::json!("localhost/b:2")).unwrap(),
            "localhost/b:2"
        );
        let tag = t("localhost/b:{{tag}}-x").unwrap().unwrap();
        assert_eq!(
            tag.render(&serde_json::json!(7)).unwrap(),
            "localhost/b:7-x"
        );
        for bad in [
            serde_json::json!("a b"),
            serde_json::json!(true),
            serde_json::json!(["x"]),
        ] {
            assert!(tag.render(&bad).is_err(), "{bad}");
        }
        assert!(whole.render(&serde_json::json!("-v")).is_err());
        for bad in [
            "{{ a }}{{ b }}",
            "{{ a | upper }}",
            "{{ a",
            "{{ 1a }}",
            "{% if a %}x{% endif %}{{ a }}",
            "a b{{ x }}",
        ] {
            assert!(matches!(t(bad), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn images_and_options_are_words_not_shell_text() {
        assert!(image_problem("localhost/mpf-test:1").is_none());
        assert!(image_problem("docker.io/library/debian@sha256:0123abc").is_none());
        for bad in ["", "-v", "a b", "a\nb", "a;\tb"] {
            assert!(image_problem(bad).is_some(), "{bad:?}");
        }
        assert!(option_problem("--env=A=b c; $(id)").is_none());
        assert!(option_problem("a\nb").is_some());
        assert!(option_problem(&"x".repeat(MAX_OPTION + 1)).is_some());
        assert!(image_problem(&"x".repeat(1025)).is_some());
    }
}
