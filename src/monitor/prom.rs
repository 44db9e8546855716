//! Prometheus endpoints scraped by mpf during a run: over a port forwarded through the
//! machine's ssh master (`ssh -O forward`, no session of its own) or directly on this machine.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most bytes read from one scrape; a larger answer is cut there (and its last,
/// incomplete line dropped).
pub const MAX_BODY: usize = 8 << 20;

/// `GET path` from `host:port` (HTTP/1.0: no chunked answer, the server closes).
pub async fn get(host: &str, port: u16, path: &str, timeout: Duration) -> Result<String, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: text/plain\r\nUser-Agent: mpf\r\n\r\n"
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
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))??;
    body(&buf)
}

/// The body of a `200` answer.
fn body(answer: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .ok_or("not an HTTP answer")?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status '{}'", status.trim().escape_debug()));
    }
    let mut body = body.to_string();
    if answer.len() >= MAX_BODY {
        let keep = body.rfind('\n').map_or(0, |i| i + 1);
        body.truncate(keep);
    }
    Ok(body)
}

/// The samples of an exposition (text format 0.0.4): `(name{labels}, value)` as exposed,
/// kept when `matches` (a regex on the whole name) says so. Comments and malformed lines are
/// skipped.
pub fn samples(text: &str, matches: Option<&regex::Regex>) -> Vec<(String, f64)> {
    use prometheus_parse::LineInfo;
    let mut out = Vec::new();
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
        let name = match labels {
            Some(l) => format!("{metric_name}{{{l}}}"),
            None => metric_name.to_string(),
        };
        let Some(v) = float(value) else { continue };
        if matches.is_none_or(|m| m.is_match(&name)) {
            out.push((name, v));
        }
    }
    out
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
        let s = samples(EXPOSITION, None);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
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
        let s = samples(EXPOSITION, Some(&re));
        assert_eq!(s.len(), 4);
        let re = regex::Regex::new(r#"^(?:app_temp\{sensor="a"\})$"#).unwrap();
        assert_eq!(samples(EXPOSITION, Some(&re)).len(), 1);
        let re = regex::Regex::new("^(?:app)$").unwrap();
        assert!(samples(EXPOSITION, Some(&re)).is_empty());
    }

    #[test]
    fn only_a_200_answer_has_a_body() {
        assert_eq!(
            body(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nx 1\n").unwrap(),
            "x 1\n"
        );
        assert!(body(b"HTTP/1.0 404 Not Found\r\n\r\nnope").is_err());
        assert!(body(b"garbage").is_err());
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
        let text = get("127.0.0.1", port, "/m", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(samples(&text, None), [("up".to_string(), 1.0)]);
    }
}
