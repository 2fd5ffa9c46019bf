//! Hot reload under load: policy rewrites (half of them broken) lose no request, good ones take
//! effect within 2 s, broken ones leave the last good version serving; SIGHUP and Kubernetes
//! ConfigMap symlink swaps reload too. Per file: a broken file keeps its own tenant stale (and
//! `/readyz` says so with file:line:col) while other tenants' changes apply; a newcomer does
//! not take a route that serves.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]

mod common;
use common::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn answer_from(rec: &Recorder, name: &str) {
    rec.set(Answer::Json(200, vec![], format!(r#"{{"from":"{name}"}}"#)));
}

/// Write like an editor or a deploy tool: a temporary file renamed into place.
fn atomic_write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn metric(gw: &Gateway, line: &str) -> u64 {
    gw.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what} took longer than {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn a_hundred_rewrites_under_load_lose_no_request() {
    let (one, two) = (Recorder::start(), Recorder::start());
    answer_from(&one, "one");
    answer_from(&two, "two");
    let gw = Gateway::start(
        &[("t.toml", policy("t", "/t", "tok", &one.url(), "", ""))],
        &[],
    );
    let file = gw.policies().join("t.toml");
    let url = gw.url("/t/Users");

    // Continuous load from two clients; every answer must be a 200 from one of the targets.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent, failures, url) =
                (stop.clone(), sent.clone(), failures.clone(), url.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = call("GET", &url, Some("tok"), &[], None);
                    sent.fetch_add(1, Ordering::Relaxed);
                    let from = r.status == 200 && r.json()["from"].as_str().is_some();
                    if !from {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} {}", r.status, r.body));
                    }
                }
            })
        })
        .collect();

    let mut slowest = Duration::ZERO;
    let mut current = "one";
    let (mut good, mut bad) = (0u64, 0u64);
    let serving = |name: &str| {
        let r = call("GET", &url, Some("tok"), &[], None);
        r.status == 200 && r.json()["from"] == name
    };
    for i in 0..100 {
        if i % 2 == 0 {
            let (rec, name) = if (i / 2) % 2 == 0 {
                (&two, "two")
            } else {
                (&one, "one")
            };
            atomic_write(&file, &policy("t", "/t", "tok", &rec.url(), "", ""));
            good += 1;
            current = name;
            slowest = slowest.max(wait_for(
                "a good policy taking effect",
                Duration::from_secs(2),
                || serving(name),
            ));
            wait_for("the reload being counted", Duration::from_secs(2), || {
                metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#) >= good
            });
        } else {
            atomic_write(
                &file,
                &format!(
                    "{}\nthis is = not [valid toml",
                    policy("t", "/t", "tok", &one.url(), "", "")
                ),
            );
            bad += 1;
            wait_for(
                "the failed reload being counted",
                Duration::from_secs(2),
                || metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#) >= bad,
            );
            assert!(
                serving(current),
                "the last good policy ({current}) keeps serving after a broken rewrite"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        sent.load(Ordering::Relaxed) > 200,
        "the load ran throughout"
    );
    assert!(slowest <= Duration::from_secs(2), "{slowest:?}");
    assert_eq!(
        metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#),
        50
    );
    assert_eq!(
        metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#),
        50
    );
    assert!(
        gw.log().contains("t.toml:"),
        "reload errors are logged with file:line:col"
    );
    println!(
        "slowest good reload observed after {slowest:?}; {} requests under load",
        sent.load(Ordering::Relaxed)
    );
}

#[test]
fn sighup_reloads() {
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[("t.toml", policy("t", "/t", "tok", &rec.url(), "", ""))],
        &[],
    );
    let before = metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#);
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    wait_for("SIGHUP reload", Duration::from_secs(2), || {
        metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#) > before
    });
    assert_eq!(
        call("GET", &gw.url("/t/Users"), Some("tok"), &[], None).status,
        200,
        "still serving after SIGHUP"
    );
}

#[test]
fn a_configmap_symlink_swap_reloads() {
    let (one, two) = (Recorder::start(), Recorder::start());
    answer_from(&one, "one");
    answer_from(&two, "two");
    let gw = Gateway::start(
        &[("t.toml", policy("t", "/t", "tok", &one.url(), "", ""))],
        &[],
    );
    let dir = gw.policies();
    // Lay the directory out as the kubelet does: t.toml -> ..data/t.toml, ..data -> ..v1.
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(
        dir.join("..v1/t.toml"),
        policy("t", "/t", "tok", &one.url(), "", ""),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::fs::remove_file(dir.join("t.toml")).unwrap();
    std::os::unix::fs::symlink("..data/t.toml", dir.join("t.toml")).unwrap();
    let serving = |name: &str| {
        let r = call("GET", &gw.url("/t/Users"), Some("tok"), &[], None);
        r.status == 200 && r.json()["from"] == name
    };
    wait_for(
        "the symlinked layout serving",
        Duration::from_secs(2),
        || serving("one"),
    );
    // The update: a new version directory and an atomic swap of ..data.
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(
        dir.join("..v2/t.toml"),
        policy("t", "/t", "tok", &two.url(), "", ""),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let took = wait_for(
        "the swapped ConfigMap taking effect",
        Duration::from_secs(2),
        || serving("two"),
    );
    println!("ConfigMap swap took effect after {took:?}");
}

#[test]
fn other_files_in_the_directory_do_not_reload() {
    // A log file written into the policies directory used to reload on every line.
    let rec = Recorder::start();
    let gw = Gateway::start(
        &[("t.toml", policy("t", "/t", "tok", &rec.url(), "", ""))],
        &[],
    );
    let dir = gw.policies();
    let reloads = || {
        metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#)
            + metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#)
    };
    let before = reloads();
    for i in 0..10 {
        std::fs::write(dir.join("gateway.log"), format!("line {i}\n")).unwrap();
        std::fs::write(dir.join(".t.toml.swp"), format!("swap {i}")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past the debounce: a reload, had one been triggered, would be counted by now.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        reloads(),
        before,
        "no reload for files that are not policies"
    );
    // A policy change still reloads.
    atomic_write(
        &dir.join("t.toml"),
        &policy("t", "/t", "tok", &rec.url(), "", ""),
    );
    wait_for("a .toml change reloading", Duration::from_secs(2), || {
        reloads() > before
    });
}

/// `GET /readyz` on the admin listener: status and body.
fn readyz(gw: &Gateway) -> (u16, String) {
    let r = call(
        "GET",
        &format!("http://127.0.0.1:{}/readyz", gw.admin),
        None,
        &[],
        None,
    );
    (r.status, r.body)
}

fn status(gw: &Gateway, path: &str, token: &str) -> u16 {
    call("GET", &gw.url(path), Some(token), &[], None).status
}

/// A good policy (six lines, see `policy`) with a typo appended: an unknown key at 8:1.
fn with_typo(good: &str) -> String {
    format!("{}\n[limits]\nrequests_per_secnd = 5\n", good.trim_end())
}

#[test]
fn a_broken_file_keeps_its_own_tenant_stale_while_other_tenants_change() {
    let (ra, rb) = (Recorder::start(), Recorder::start());
    let gw = Gateway::start(
        &[
            ("a.toml", policy("a", "/a", "a-old", &ra.url(), "", "")),
            ("b.toml", policy("b", "/b", "b-old", &rb.url(), "", "")),
        ],
        &[],
    );
    let dir = gw.policies();
    let failures = || metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#);
    let successes = || metric(&gw, r#"scimgate_policy_reloads_total{result="success"} "#);
    assert_eq!(readyz(&gw), (200, "ready: 2 tenants\n".to_string()));

    // a's token rotation lands with a typo: a keeps serving its last good version (old token).
    let a_new = policy("a", "/a", "a-new", &ra.url(), "", "");
    let a_broken = with_typo(&a_new);
    assert_eq!(a_broken.lines().nth(7), Some("requests_per_secnd = 5"));
    atomic_write(&dir.join("a.toml"), &a_broken);
    wait_for("the broken reload", Duration::from_secs(3), || {
        failures() >= 1
    });
    assert_eq!(
        status(&gw, "/a/Users", "a-old"),
        200,
        "a's last good policy serves"
    );
    assert_eq!(
        status(&gw, "/a/Users", "a-new"),
        401,
        "a's broken edit does not"
    );
    let a_file = dir.join("a.toml");
    let stale_line = format!(
        "stale: a ({}:8:1: error[E001]: unknown field `requests_per_secnd`",
        a_file.display()
    );
    let (code, body) = readyz(&gw);
    assert_eq!(code, 200, "the gateway serves: {body}");
    assert!(body.starts_with("ready: 2 tenants\nstale: a ("), "{body}");
    assert!(body.contains(&stale_line), "{body}");
    assert_eq!(body.lines().count(), 2, "{body}");
    assert_eq!(metric(&gw, "scimgate_policy_stale_tenants "), 1);
    assert!(
        gw.log().contains(&stale_line),
        "a WARN line names the stale tenant"
    );

    // b rotates its token while a is broken: b's change applies at once.
    let before = failures();
    atomic_write(
        &dir.join("b.toml"),
        &policy("b", "/b", "b-new", &rb.url(), "", ""),
    );
    wait_for("b's rotation applying", Duration::from_secs(3), || {
        status(&gw, "/b/Users", "b-new") == 200
    });
    assert_eq!(
        status(&gw, "/b/Users", "b-old"),
        401,
        "b's old token is gone"
    );
    wait_for(
        "a reload with a broken file counted as a failure",
        Duration::from_secs(2),
        || failures() > before,
    );
    assert_eq!(
        status(&gw, "/a/Users", "a-old"),
        200,
        "a is still on its last good version"
    );
    let (code, body) = readyz(&gw);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&stale_line),
        "still stale after b's reload: {body}"
    );

    // Fixing a applies it and clears the stale line.
    let before = successes();
    atomic_write(&a_file, &a_new);
    wait_for("a's fix applying", Duration::from_secs(3), || {
        status(&gw, "/a/Users", "a-new") == 200
    });
    wait_for(
        "the clean reload being counted",
        Duration::from_secs(2),
        || successes() > before,
    );
    assert_eq!(status(&gw, "/a/Users", "a-old"), 401);
    assert_eq!(status(&gw, "/b/Users", "b-new"), 200);
    assert_eq!(readyz(&gw), (200, "ready: 2 tenants\n".to_string()));
    assert_eq!(metric(&gw, "scimgate_policy_stale_tenants "), 0);
}

#[test]
fn a_new_broken_file_stays_out_and_other_files_still_apply() {
    let (ra, rc) = (Recorder::start(), Recorder::start());
    let gw = Gateway::start(
        &[("a.toml", policy("a", "/a", "tok", &ra.url(), "", ""))],
        &[],
    );
    let dir = gw.policies();
    let failures = || metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#);
    atomic_write(
        &dir.join("c.toml"),
        &with_typo(&policy("c", "/c", "tok", &rc.url(), "", "")),
    );
    wait_for("the broken reload", Duration::from_secs(3), || {
        failures() >= 1
    });
    call("GET", &gw.url("/c/Users"), Some("tok"), &[], None).assert_scim_error(404, None);
    assert_eq!(status(&gw, "/a/Users", "tok"), 200);
    let not_loaded = format!(
        "not loaded: {}:8:1: error[E001]: unknown field",
        dir.join("c.toml").display()
    );
    let (code, body) = readyz(&gw);
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("ready: 1 tenants\n"), "{body}");
    assert!(body.contains(&not_loaded), "{body}");
    assert_eq!(metric(&gw, "scimgate_policy_files_not_loaded "), 1);
    assert_eq!(metric(&gw, "scimgate_policy_stale_tenants "), 0);

    // A good new file applies beside the broken one; deleting the broken one clears it.
    atomic_write(
        &dir.join("d.toml"),
        &policy("d", "/d", "tok", &ra.url(), "", ""),
    );
    wait_for("d applying", Duration::from_secs(3), || {
        status(&gw, "/d/Users", "tok") == 200
    });
    std::fs::remove_file(dir.join("c.toml")).unwrap();
    wait_for(
        "the broken file's problem clearing",
        Duration::from_secs(3),
        || readyz(&gw) == (200, "ready: 2 tenants\n".to_string()),
    );
    assert_eq!(metric(&gw, "scimgate_policy_files_not_loaded "), 0);

    // Deleting a file removes its tenant, as ever.
    std::fs::remove_file(dir.join("d.toml")).unwrap();
    wait_for("d going", Duration::from_secs(3), || {
        status(&gw, "/d/Users", "tok") == 404
    });
    assert_eq!(status(&gw, "/a/Users", "tok"), 200);
}

#[test]
fn a_newcomer_claiming_a_served_route_is_refused_until_the_route_is_free() {
    let (rz, ra) = (Recorder::start(), Recorder::start());
    answer_from(&rz, "z");
    answer_from(&ra, "a");
    // z.toml serves /shared; a.toml comes first by name, so file order alone would favour it.
    let gw = Gateway::start(
        &[("z.toml", policy("z", "/shared", "tok-z", &rz.url(), "", ""))],
        &[],
    );
    let dir = gw.policies();
    let failures = || metric(&gw, r#"scimgate_policy_reloads_total{result="failure"} "#);
    let from = |path: &str, token: &str| {
        let r = call("GET", &gw.url(path), Some(token), &[], None);
        (r.status, r.body)
    };
    atomic_write(
        &dir.join("a.toml"),
        &policy("a", "/shared", "tok-a", &ra.url(), "", ""),
    );
    wait_for("the conflicting reload", Duration::from_secs(3), || {
        failures() >= 1
    });
    assert_eq!(
        from("/shared/Users", "tok-z"),
        (200, r#"{"from":"z"}"#.into())
    );
    assert_eq!(
        from("/shared/Users", "tok-a").0,
        401,
        "the newcomer is not served"
    );
    let (code, body) = readyz(&gw);
    assert_eq!(code, 200, "{body}");
    let refused = format!(
        "not loaded: {}:2:9: error[E013]: route \"/shared\" of tenant \"a\" overlaps route \"/shared\" of tenant \"z\" in {}",
        dir.join("a.toml").display(),
        dir.join("z.toml").display()
    );
    assert!(body.contains(&refused), "{body}");
    assert!(!body.contains("stale"), "z is not stale: {body}");

    // z moves away in one reload: a takes the route in the same reload.
    atomic_write(
        &dir.join("z.toml"),
        &policy("z", "/z", "tok-z", &rz.url(), "", ""),
    );
    wait_for("a taking the freed route", Duration::from_secs(3), || {
        from("/shared/Users", "tok-a") == (200, r#"{"from":"a"}"#.into())
    });
    assert_eq!(from("/z/Users", "tok-z"), (200, r#"{"from":"z"}"#.into()));
    assert_eq!(readyz(&gw), (200, "ready: 2 tenants\n".to_string()));

    // An edit of a served file that claims another's route keeps its own last good version.
    atomic_write(
        &dir.join("z.toml"),
        &policy("z", "/shared", "tok-z", &rz.url(), "", ""),
    );
    wait_for(
        "z's conflicting edit refused",
        Duration::from_secs(3),
        || readyz(&gw).1.contains("stale: z ("),
    );
    assert_eq!(from("/z/Users", "tok-z"), (200, r#"{"from":"z"}"#.into()));
    assert_eq!(
        from("/shared/Users", "tok-a"),
        (200, r#"{"from":"a"}"#.into())
    );
    let body = readyz(&gw).1;
    assert!(
        body.contains(&format!(
            "stale: z ({}:2:9: error[E013]",
            dir.join("z.toml").display()
        )),
        "{body}"
    );
}
