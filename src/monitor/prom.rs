//! Prometheus endpoints scraped by mpf during a run: over a port forwarded through the
//! machine's ssh master (`ssh -O forward`, no session of its own) or directly on this machine.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most bytes read from one scrape; a larger answer is cut there (and its last,
/// incomplete line dropped), and the run's record says how many were.
pub const MAX_BODY: usize = 8 << 20;

/// The body of one answer, and whether it was cut at `MAX_BODY`.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub body: String,
    pub cut: bool,
}

/// Why a scrape gave nothing: no answer (the server not up yet), or an answer mpf cannot
/// read (not HTTP, a status other than 200, compressed).
#[derive(Debug, PartialEq)]
pub enum Failure {
    Unreachable(String),
    Unreadable(String),
}

/// `GET path` from `host:port` (HTTP/1.0: no chunked answer, the server closes).
pub async fn get(host: &str, port: u16, path: &str, timeout: Duration) -> Result<Answer, Failure> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/plain\r\nAccept-Encoding: identity\r\nUser-Agent: mpf\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        (&mut s)
            .take(MAX_BODY as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<Vec<u8>, String>(buf)
    };
    let buf = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))
        .and_then(|r| r)
        .map_err(Failure::Unreachable)?;
    body(&buf).map_err(Failure::Unreadable)
}

/// The body of a `200` answer in plain text.
pub fn body(answer: &[u8]) -> Result<Answer, String> {
    let split = |sep: &[u8]| {
        answer
            .windows(sep.len())
            .position(|w| w == sep)
            .map(|i| (&answer[..i], &answer[i + sep.len()..]))
    };
    let (head, body) = split(b"\r\n\r\n")
        .or_else(|| split(b"\n\n"))
        .ok_or("not an HTTP answer")?;
    let head = String::from_utf8_lossy(head);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status '{}'", status.trim().escape_debug()));
    }
    // mpf asks for `identity`; a server that compresses anyway is not read.
    if let Some(enc) = head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        (k.trim().eq_ignore_ascii_case("content-encoding") && !v.eq_ignore_ascii_case("identity"))
            .then_some(v)
    }) {
        return Err(format!(
            "the answer is compressed (Content-Encoding: {}), mpf reads plain text only",
            enc.escape_debug()
        ));
    }
    let cut = answer.len() >= MAX_BODY;
    let body = if cut {
        let keep = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        &body[..keep]
    } else {
        body
    };
    Ok(Answer {
        body: String::from_utf8_lossy(body).into_owned(),
        cut,
    })
}

/// The samples of an exposition (text format 0.0.4): `(name{labels}, value)` as exposed,
/// kept when `matches` (a regex on the whole name) says so, and how many samples it held
/// before matching. Comments and malformed lines are skipped.
pub fn samples<'t>(text: &'t str, matches: Option<&regex::Regex>) -> (Vec<(Name<'t>, f64)>, usize) {
    use prometheus_parse::LineInfo;
    let mut out = Vec::new();
    let mut read = 0;
    for line in text.lines() {
        let LineInfo::Sample {
            metric_name,
            labels,
            value,
            ..
        } = LineInfo::parse(line)
        else {
            continue;
        };
        let name = Name {
            metric: metric_name,
            labels,
        };
        let Some(v) = float(value) else { continue };
        read += 1;
        if matches.is_none_or(|m| m.is_match(&name.to_string())) {
            out.push((name, v));
        }
    }
    (out, read)
}

/// A sample's name as exposed: `metric{labels}`, not copied out of the answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Name<'t> {
    metric: &'t str,
    labels: Option<&'t str>,
}

impl Name<'_> {
    /// Bytes of `metric{labels}`.
    pub fn bytes(&self) -> usize {
        self.metric.len() + self.labels.map_or(0, |l| l.len() + 2)
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.labels {
            Some(l) => write!(f, "{}{{{l}}}", self.metric),
            None => f.write_str(self.metric),
        }
    }
}

/// A sample value: Go's float syntax (`NaN`, `+Inf`), which Rust's parser lacks in part.
fn float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

/// A local port forwarded to `127.0.0.1:port` on a remote machine through its ssh master;
/// cancelled on `close` (and with the master when mpf exits).
pub struct Forward {
    argv: Vec<String>,
    dest: String,
    spec: String,
    pub local_port: u16,
}

/// A port free on this machine now (the forward binds it right after).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free local port: {e}"))
}

async fn control(argv: &[String], op: &str, spec: &str, dest: &str) -> Result<(), String> {
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args(["-O", op, "-L", spec, "--", dest])
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(10), out)
        .await
        .map_err(|_| format!("ssh -O {op} did not answer"))?
        .map_err(|e| format!("ssh -O {op}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "ssh -O {op} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

impl Forward {
    /// Forwards a free local port to `port` on the machine of `ssh` (`Transport::ssh_command`).
    pub async fn open(ssh: (Vec<String>, String), port: u16) -> Result<Forward, String> {
        let (argv, dest) = ssh;
        if argv.is_empty() {
            return Err("no ssh command".into());
        }
        let mut last = String::new();
        // Another process may take the free port between the probe and the bind.
        for _ in 0..3 {
            let local_port = free_port()?;
            let spec = format!("127.0.0.1:{local_port}:127.0.0.1:{port}");
            match control(&argv, "forward", &spec, &dest).await {
                Ok(()) => {
                    return Ok(Forward {
                        argv,
                        dest,
                        spec,
                        local_port,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub async fn close(self) {
        let _ = control(&self.argv, "cancel", &self.spec, &self.dest).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP app_requests_total Requests.
# TYPE app_requests_total counter
app_requests_total{method="get",code="200"} 1027 1395066363000
app_requests_total{method="post",code="200"} 3
# TYPE app_temp gauge
app_temp{sensor="a"} -1.5e1
app_up 1
process_open_fds NaN
broken line
http_duration_seconds_bucket{le="+Inf"} 7
"#;

    #[test]
    fn samples_keep_names_and_labels_as_exposed() {
        let (s, read) = samples(EXPOSITION, None);
        assert_eq!(read, 6);
        let names: Vec<String> = s.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            names,
            [
                r#"app_requests_total{method="get",code="200"}"#,
                r#"app_requests_total{method="post",code="200"}"#,
                r#"app_temp{sensor="a"}"#,
                "app_up",
                "process_open_fds",
                r#"http_duration_seconds_bucket{le="+Inf"}"#,
            ]
        );
        assert_eq!(s[0].1, 1027.0);
        assert_eq!(s[2].1, -15.0);
        assert!(s[4].1.is_nan());
    }

    #[test]
    fn match_applies_to_the_whole_name() {
        let re = regex::Regex::new("^(?:app_.*)$").unwrap();
        let (s, read) = samples(EXPOSITION, Some(&re));
        assert_eq!((s.len(), read), (4, 6));
        let re = regex::Regex::new(r#"^(?:app_temp\{sensor="a"\})$"#).unwrap();
        assert_eq!(samples(EXPOSITION, Some(&re)).0.len(), 1);
        let re = regex::Regex::new("^(?:app)$").unwrap();
        assert!(samples(EXPOSITION, Some(&re)).0.is_empty());
    }

    #[test]
    fn only_a_200_answer_has_a_body() {
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nx 1\n").unwrap(),
            Answer {
                body: "x 1\n".into(),
                cut: false
            }
        );
        assert!(body(b"HTTP/1.0 404 Not Found\r\n\r\nnope").is_err());
        assert!(body(b"garbage").is_err());
        let gz =
            body(b"HTTP/1.0 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\x08").unwrap_err();
        assert!(gz.contains("compressed (Content-Encoding: gzip)"), "{gz}");
        assert!(body(b"HTTP/1.0 200 OK\r\ncontent-encoding: identity\r\n\r\nx 1\n").is_ok());
    }

    #[test]
    fn an_answer_over_the_limit_is_cut_at_a_line_and_says_so() {
        let mut a = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        while a.len() < MAX_BODY {
            a.extend_from_slice(b"metric_with_a_name 12345\n");
        }
        a.truncate(MAX_BODY);
        let got = body(&a).unwrap();
        assert!(got.cut);
        assert!(got.body.ends_with("12345\n"));
    }

    #[tokio::test]
    async fn get_reads_an_answer_from_a_local_server() {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut req = vec![0u8; 1024];
            let n = c.read(&mut req).await.unwrap();
            assert!(req[..n].starts_with(b"GET /m HTTP/1.0\r\n"));
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nup 1\n").await.unwrap();
        });
        let got = get("127.0.0.1", port, "/m", Duration::from_secs(5))
            .await
            .unwrap();
        let (s, _) = samples(&got.body, None);
        assert_eq!((s[0].0.to_string(), s[0].1), ("up".to_string(), 1.0));
    }
}
