//! Preparing a run over livesale's public HTTP API: a creator, a live show, a product in its
//! lineup (pinned), and viewer tokens in bulk with bounded concurrency.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::http1::Http;

/// Where the server is, from `http://host:port`.
pub async fn server_addr(url: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must start with http:// (got {url})"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = tokio::net::lookup_host(host)
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "{addr} is not a loopback address; this tool generates heavy load, pass --allow-remote if you mean it"
        ));
    }
    Ok(addr)
}

fn expect(r: &super::http1::Response, want: u16, what: &str) -> Result<serde_json::Value, String> {
    if r.status != want {
        return Err(format!(
            "{what}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(r.json())
}

async fn post(
    http: &mut Http,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> Result<super::http1::Response, String> {
    let auth = format!("Bearer {token}");
    let body = body.to_string();
    http.request(
        "POST",
        path,
        &[("Authorization", &auth)],
        Some(body.as_bytes()),
        true,
    )
    .await
    .map_err(|e| format!("POST {path}: {e}"))
}

/// What `setup` made.
#[derive(Debug, serde::Serialize)]
pub struct Made {
    pub creator_token: String,
    pub show_id: String,
    pub product_id: String,
}

/// A creator, a live show and one pinned product with `stock` units.
pub async fn setup(
    server: SocketAddr,
    admin_token: &str,
    stock: i64,
    price: i64,
) -> Result<Made, String> {
    let mut http = Http::new(server, None);
    let suffix = format!("{:x}", super::sys::now_us());
    let r = post(
        &mut http,
        "/api/creators",
        admin_token,
        json!({ "name": format!("Bench creator {suffix}") }),
    )
    .await?;
    let creator = expect(&r, 201, "create creator")?;
    let token = creator["token"]
        .as_str()
        .ok_or("no creator token")?
        .to_string();
    let r = post(
        &mut http,
        "/api/shows",
        &token,
        json!({ "title": "Load test show", "description": "livesale-load" }),
    )
    .await?;
    let show = expect(&r, 201, "create show")?;
    let show_id = show["id"].as_str().ok_or("no show id")?.to_string();
    let r = post(
        &mut http,
        &format!("/api/shows/{show_id}/start"),
        &token,
        json!({}),
    )
    .await?;
    expect(&r, 200, "start show")?;
    let r = post(
        &mut http,
        "/api/products",
        &token,
        json!({
            "sku": format!("BENCH-{suffix}"),
            "title": "Flash drop sneaker",
            "price": { "amount": price, "currency": "USD" },
            "stock": stock,
        }),
    )
    .await?;
    let product = expect(&r, 201, "create product")?;
    let product_id = product["id"].as_str().ok_or("no product id")?.to_string();
    let r = post(
        &mut http,
        &format!("/api/shows/{show_id}/lineup"),
        &token,
        json!({ "product_id": product_id }),
    )
    .await?;
    expect(&r, 200, "add to lineup")?;
    let r = post(
        &mut http,
        &format!("/api/shows/{show_id}/pins"),
        &token,
        json!({ "product_id": product_id }),
    )
    .await?;
    expect(&r, 200, "pin")?;
    Ok(Made {
        creator_token: token,
        show_id,
        product_id,
    })
}

/// `n` viewer tokens for `show` (`None` where the server refused), `concurrency` requests in
/// flight, each worker on its own keep-alive connection. `tag` makes display names unique
/// across processes.
pub async fn viewer_tokens(
    server: SocketAddr,
    srcs: &[IpAddr],
    show: &str,
    n: usize,
    concurrency: usize,
    tag: &str,
) -> (
    Vec<Option<(String, String)>>,
    std::collections::BTreeMap<String, u64>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let path = Arc::new(format!("/api/shows/{show}/viewers"));
    let tag = Arc::new(tag.to_string());
    let mut workers = Vec::new();
    for w in 0..concurrency.clamp(1, n.max(1)) {
        let next = next.clone();
        let path = path.clone();
        let tag = tag.clone();
        let src = (!srcs.is_empty()).then(|| srcs[w % srcs.len()]);
        workers.push(tokio::spawn(async move {
            let mut http = Http::new(server, src);
            let mut got = Vec::new();
            let mut errors = std::collections::BTreeMap::<String, u64>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = json!({ "display_name": format!("Viewer {tag}-{i}") }).to_string();
                let mut result = None;
                for _attempt in 0..3 {
                    match http
                        .request("POST", &path, &[], Some(body.as_bytes()), true)
                        .await
                    {
                        Ok(r) if r.status == 201 => {
                            let v = r.json();
                            if let (Some(t), Some(id)) =
                                (v["token"].as_str(), v["viewer_id"].as_str())
                            {
                                result = Some((t.to_string(), id.to_string()));
                            }
                            break;
                        }
                        Ok(r) => {
                            *errors.entry(format!("token:{}", r.code())).or_default() += 1;
                            if r.status < 500 {
                                break;
                            }
                        }
                        Err(e) => {
                            *errors.entry(format!("token:{:?}", e.kind())).or_default() += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
                got.push((i, result));
            }
            (got, errors)
        }));
    }
    let mut out = vec![None; n];
    let mut errors = std::collections::BTreeMap::new();
    for w in workers {
        if let Ok((got, errs)) = w.await {
            for (i, r) in got {
                out[i] = r;
            }
            for (k, v) in errs {
                *errors.entry(k).or_default() += v;
            }
        }
    }
    (out, errors)
}

/// A camera invite for `show` (its token publishes over WHIP as that camera).
pub async fn camera_invite(
    server: SocketAddr,
    creator_token: &str,
    show: &str,
    label: &str,
) -> Result<String, String> {
    let mut http = Http::new(server, None);
    let r = post(
        &mut http,
        &format!("/api/shows/{show}/invites"),
        creator_token,
        json!({ "role": "camera", "label": label }),
    )
    .await?;
    let invite = expect(&r, 201, "camera invite")?;
    invite["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no invite token".to_string())
}
