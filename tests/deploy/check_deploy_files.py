"""Static checks of the deployment files in deploy/, run by tests/deploy_files.rs.

No Docker engine, cluster or network is needed: every YAML file is parsed, and the files are
cross-checked against each other and against the repository (paths that must exist, ports,
probes, selectors, the Rust version the locked dependencies need, ...).

    check_deploy_files.py REPO                       # run every check; exit 1 listing all problems
    check_deploy_files.py REPO --extract-configmap DIR
                                                     # write the *.toml keys of the k8s policies
                                                     # ConfigMap into DIR (for `scimgate check`)

Environment: SCIMGATE_CARGO (the cargo binary, default `cargo`);
SCIMGATE_ALLOW_MISSING_DASHBOARD=1 tolerates a missing deploy/grafana/scimgate.json.
"""

import fnmatch
import glob
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - the message is the point
    sys.exit(
        "PyYAML is missing from the venv: run ./scripts/setup.sh "
        "(or .venv/bin/pip install -r tests/conformance/requirements.txt)"
    )

REPO = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path.cwd()
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
DASHBOARD = DEPLOY / "grafana" / "scimgate.json"
ALLOW_MISSING_DASHBOARD = os.environ.get("SCIMGATE_ALLOW_MISSING_DASHBOARD") == "1"

errors = []
notes = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def rel(p):
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def version_tuple(v):
    parts = [int(x) for x in re.findall(r"\d+", v)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def is_loopback_addr(addr):
    """Whether `host:port` / `[v6]:port` names a loopback host (127.0.0.0/8, ::1, localhost)."""
    m = re.fullmatch(r"\[?([^\]]*?)\]?:\d+", addr or "")
    if not m:
        return False
    host = m.group(1)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_admin_binding(where, flags, explicit):
    """The admin listener has no authentication: loopback unless a deployment says otherwise
    in its own command line (not by inheriting the image's)."""
    admin = flags.get("admin")
    if admin and not is_loopback_addr(admin) and not explicit:
        err(where, f"the admin listener binds {admin}, not loopback, without saying so in its own command")


def port_of(addr):
    """The port of `host:port`, `[v6]:port` or `:port`."""
    m = re.search(r":(\d+)$", addr or "")
    return int(m.group(1)) if m else None


def serve_flags(args):
    """--flag value / --flag=value pairs of a `scimgate serve ...` argument list."""
    flags = {}
    i = 0
    while i < len(args):
        a = str(args[i])
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
                flags[k] = v
            elif i + 1 < len(args) and not str(args[i + 1]).startswith("--"):
                flags[a[2:]] = str(args[i + 1])
                i += 1
            else:
                flags[a[2:]] = ""
        i += 1
    return flags


def policies_in(directory):
    """(path, parsed TOML) of every *.toml of a directory, the way `scimgate serve` loads them."""
    out = []
    for p in sorted(Path(directory).glob("*.toml")):
        try:
            out.append((p, tomllib.loads(p.read_text(encoding="utf-8"))))
        except (tomllib.TOMLDecodeError, OSError) as e:
            err(rel(p), f"not TOML: {e}")
    return out


def secret_envs(doc):
    """The environment variables a policy reads its upstream secret from: `bearer_env`, or
    `[upstream.oauth] client_secret_env`."""
    up = doc.get("upstream") if isinstance(doc.get("upstream"), dict) else {}
    oauth = up.get("oauth") if isinstance(up.get("oauth"), dict) else {}
    return [v for v in (up.get("bearer_env"), oauth.get("client_secret_env")) if v]


def bearer_envs(policies):
    return {(p, var) for p, doc in policies for var in secret_envs(doc)}


def env_file_keys(path):
    keys = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            keys.add(line.split("=", 1)[0].strip())
    return keys


# ---------------------------------------------------------------------------------------------
# 1. every YAML file under deploy/ parses


def check_yaml_parses():
    parsed = {}
    files = sorted(p for ext in ("*.yaml", "*.yml") for p in DEPLOY.rglob(ext) if p.is_file())
    if not files:
        err("deploy/", "no YAML file found")
    for p in files:
        try:
            parsed[p.resolve()] = load_yaml_docs(p)
        except yaml.YAMLError as e:
            err(rel(p), f"YAML does not parse: {e}")
    return parsed


# ---------------------------------------------------------------------------------------------
# 2. deploy/Dockerfile


def dockerfile_instructions(path):
    """(line number, INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    out = []
    buf, start = "", None
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue  # comments and blank lines, also inside a continuation
        if start is None:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf, start = "", None
    return out


def exec_form(rest):
    """The JSON array of an exec-form instruction, or None for the shell form."""
    try:
        v = json.loads(rest)
        return v if isinstance(v, list) else None
    except json.JSONDecodeError:
        return None


def dockerignore_patterns():
    p = REPO / ".dockerignore"
    if not p.exists():
        err(".dockerignore", "missing: the build context would carry target/, .venv/, .git/")
        return []
    pats = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line)
    for needed in ("target", ".venv", ".run", ".git"):
        if not any(x.rstrip("/").lstrip("/") == needed for x in pats):
            err(".dockerignore", f"does not exclude {needed}/")
    return pats


def ignored(path, patterns):
    """Whether .dockerignore excludes a context-relative path (or one of its parents)."""
    result = False
    parts = Path(path).parts
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        pat_re = pat.replace("**/", "*").replace("/**", "/*")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pat_re):
                result = not neg
                break
    return result


def cargo_metadata():
    cargo = os.environ.get("SCIMGATE_CARGO", "cargo")
    try:
        vv = subprocess.run([cargo, "-vV"], capture_output=True, text=True, check=True).stdout
        host = re.search(r"^host: (\S+)", vv, re.M).group(1)
        out = subprocess.run(
            [
                cargo,
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--offline",
                "--filter-platform",
                host,
                "--manifest-path",
                str(REPO / "Cargo.toml"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return json.loads(out)
    except (OSError, subprocess.CalledProcessError, AttributeError) as e:
        detail = getattr(e, "stderr", "") or e
        err("Cargo.lock", f"`cargo metadata --locked --offline` failed: {detail}")
        return None


def rust_needed_by_lock(meta):
    """The highest rust-version among the packages a release build of scimgate compiles
    (the locked graph, dev-dependencies of the root left out), with the package naming it."""
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, todo = set(), [root]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        for d in nodes[nid]["deps"]:
            kinds = {k.get("kind") for k in d.get("dep_kinds", [])}
            if nid == root and kinds and kinds <= {"dev"}:
                continue
            todo.append(d["pkg"])
    best = ((0, 0, 0), None)
    for pid in seen:
        rv = pkgs[pid].get("rust_version")
        if rv and version_tuple(rv) > best[0]:
            best = (version_tuple(rv), f"{pkgs[pid]['name']} {pkgs[pid]['version']} ({rv})")
    return best


def check_dockerfile():
    path = DEPLOY / "Dockerfile"
    where = "deploy/Dockerfile"
    info = {"cmd": [], "user": None, "policies_dest": set()}
    if not path.exists():
        err(where, "missing")
        return info
    instrs = dockerfile_instructions(path)
    froms = [(n, rest) for n, w, rest in instrs if w == "FROM"]
    if len(froms) < 2:
        err(where, f"{len(froms)} FROM line(s): a multi-stage build needs at least 2")
        return info
    patterns = dockerignore_patterns()

    # stages
    stages = []  # (name, image, [instructions])
    for n, w, rest in instrs:
        if w == "FROM":
            toks = [t for t in rest.split() if not t.startswith("--platform")]
            name = toks[2] if len(toks) >= 3 and toks[1].lower() == "as" else None
            stages.append((name, toks[0], []))
        elif stages:
            stages[-1][2].append((n, w, rest))
    builder_name, builder_image, builder = stages[0]
    _, runtime_image, final = stages[-1]

    # builder: Rust toolchain, cmake, --locked
    m = re.match(r"(?:docker\.io/(?:library/)?)?rust:(\d+\.\d+(?:\.\d+)?)-(\w+)", builder_image)
    if not m:
        err(where, f"builder image {builder_image!r} is not a pinned rust:X.Y-<debian> image")
    else:
        rust, distro = version_tuple(m.group(1)), m.group(2)
        manifest = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
        msrv = manifest.get("package", {}).get("rust-version")
        if msrv and rust < version_tuple(msrv):
            err(where, f"builder Rust {m.group(1)} is older than Cargo.toml's rust-version {msrv}")
        meta = cargo_metadata()
        if meta:
            need, who = rust_needed_by_lock(meta)
            if rust < need:
                err(
                    where,
                    f"builder Rust {m.group(1)} cannot build the locked dependencies: "
                    f"{who} needs Rust {'.'.join(map(str, need))}",
                )
            notes.append(
                f"Dockerfile: builder Rust {m.group(1)}; the locked graph needs "
                f"{'.'.join(map(str, need))} ({who})"
            )
        runtime_distro = {"debian12": "bookworm", "debian13": "trixie"}
        rd = re.search(r"debian:(\w+)", runtime_image) or re.search(
            r"cc-(debian\d+)", runtime_image
        )
        rd = runtime_distro.get(rd.group(1), rd.group(1)) if rd else None
        if rd != distro:
            err(
                where,
                f"builder is Debian {distro} but the runtime {runtime_image!r} is not: "
                "the binary needs the builder's glibc",
            )
    runs = " ".join(rest for _, w, rest in builder if w == "RUN")
    if "cmake" not in runs:
        err(where, "the builder does not install cmake (Pingora's zlib-ng needs it)")
    builds = [rest for _, w, rest in builder if w == "RUN" and "cargo build" in rest]
    if len(builds) < 2:
        err(where, "no dependency-caching layer (a cargo build before the real sources are copied)")
    for b in builds:
        if "--locked" not in b or "--release" not in b:
            err(where, f"`cargo build` without --release --locked: {b[:80]}")

    # COPY/ADD sources exist in the build context (the repository root) and are not ignored
    builder_copied = []
    for stage_name, _, body in stages:
        for n, w, rest in body:
            if w not in ("COPY", "ADD"):
                continue
            args = exec_form(rest) or rest.split()
            flags = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            if any(f.startswith("--from=") for f in flags) or len(paths) < 2:
                continue
            srcs, dest = paths[:-1], paths[-1]
            for src in srcs:
                if re.match(r"https?://", src):
                    continue
                hits = glob.glob(str(REPO / src))
                if not hits:
                    err(f"{where}:{n}", f"{w} source {src!r} does not exist in the repository")
                elif ignored(src.rstrip("/"), patterns):
                    err(f"{where}:{n}", f"{w} source {src!r} is excluded by .dockerignore")
                norm = os.path.normpath(src)
                if stage_name == builder_name:
                    builder_copied.append(norm)
                if body is final and norm == "policies":
                    info["policies_dest"].add(dest.rstrip("/"))

    # every target file Cargo.toml names must be in the builder (cargo refuses the manifest
    # otherwise, even for targets a release build does not compile)
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
    defaults = {"bench": "benches", "test": "tests", "example": "examples", "bin": "src/bin"}
    wanted = []
    if "lib" in manifest:
        wanted.append(manifest["lib"].get("path", "src/lib.rs"))
    for kind, base in defaults.items():
        for t in manifest.get(kind, []):
            wanted.append(t.get("path", f"{base}/{t['name']}.rs"))
    for w_path in wanted:
        if not any(c == "." or w_path == c or w_path.startswith(c + "/") for c in builder_copied):
            err(where, f"Cargo.toml names {w_path}, which the builder stage never copies")

    # runtime stage: non-root USER, entrypoint, CMD, ports, healthcheck
    users = [rest for _, w, rest in final if w == "USER"]
    if not users:
        err(where, "the runtime stage has no USER: it would run as root")
    else:
        user = users[-1].split(":")[0]
        info["user"] = user
        if user in ("root", "0"):
            err(where, f"USER {users[-1]} is root")
    entry = [exec_form(rest) for _, w, rest in final if w == "ENTRYPOINT"]
    if not entry or entry[-1] != ["scimgate"]:
        err(where, 'ENTRYPOINT is not ["scimgate"] (exec form)')
    cmd = [exec_form(rest) for _, w, rest in final if w == "CMD"]
    if not cmd or not cmd[-1]:
        err(where, "no exec-form CMD")
        return info
    info["cmd"] = cmd[-1]
    flags = serve_flags(cmd[-1])
    if flags.get("admin") and not is_loopback_addr(flags["admin"]):
        err(
            where,
            f"CMD binds the admin listener to {flags['admin']}: the image's default must be "
            "loopback (127.0.0.1:PORT); deployments that need it reachable pass their own command",
        )
    if cmd[-1][0] != "serve" or not {"policies", "listen", "admin"} <= flags.keys():
        err(where, "CMD is not `serve --policies DIR --listen ADDR --admin ADDR ...`")
        return info
    if flags["policies"].rstrip("/") not in info["policies_dest"]:
        err(where, f"CMD serves --policies {flags['policies']}, where no COPY puts policies/")
    exposed = {int(p.split("/")[0]) for _, w, rest in final if w == "EXPOSE" for p in rest.split()}
    for flag in ("listen", "admin"):
        if port_of(flags[flag]) not in exposed:
            err(where, f"the --{flag} port {port_of(flags[flag])} is not EXPOSEd")
    for n, w, rest in final:
        if w == "HEALTHCHECK" and not rest.upper().startswith("NONE"):
            m = re.search(r"https?://[^/\s\"']+:(\d+)(/[^\s\"']*)", rest)
            if not m or int(m.group(1)) != port_of(flags["admin"]) or m.group(2) != "/healthz":
                err(f"{where}:{n}", "HEALTHCHECK does not probe /healthz on the --admin port")
            if "curl" in rest and "curl" not in " ".join(r for _, x, r in final if x == "RUN"):
                err(f"{where}:{n}", "HEALTHCHECK uses curl, which the runtime stage never installs")
    return info


# ---------------------------------------------------------------------------------------------
# 3. deploy/compose.yaml


def compose_volumes(svc):
    """(host source or None for a named volume, container target, raw) of a service's volumes."""
    out = []
    for v in svc.get("volumes", []) or []:
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) == 1:
                out.append((None, parts[0], v))
                continue
            src, dst = parts[0], parts[1]
        else:
            if v.get("type", "volume") != "bind":
                out.append((None, v.get("target"), v))
                continue
            src, dst = v.get("source"), v.get("target")
        bind = src.startswith((".", "/", "~"))
        out.append(((DEPLOY / os.path.expanduser(src)).resolve() if bind else None, dst, v))
    return out


def container_ports(svc):
    ports = set()
    for p in svc.get("ports", []) or []:
        if isinstance(p, dict):
            ports.add(int(p["target"]))
        else:
            ports.add(int(str(p).split("/")[0].split(":")[-1]))
    for p in svc.get("expose", []) or []:
        ports.add(int(str(p).split("/")[0]))
    return ports


def host_path_for(container_path, volumes):
    """Where a container path comes from on the host, through a service's bind mounts."""
    cp = container_path.rstrip("/")
    for host, target, _ in volumes:
        if host is None or target is None:
            continue
        t = target.rstrip("/")
        if cp == t:
            return host
        if cp.startswith(t + "/"):
            return host / cp[len(t) + 1 :]
    return None


def files_mounted_under(container_dir, volumes):
    """Host paths mounted at or below a container directory."""
    d = container_dir.rstrip("/")
    out = []
    for host, target, _ in volumes:
        if host is None or target is None:
            continue
        t = target.rstrip("/")
        if t == d or t.startswith(d + "/") or d.startswith(t + "/"):
            out.append((host, t))
    return out


def check_compose(docker):
    where = "deploy/compose.yaml"
    path = DEPLOY / "compose.yaml"
    if not path.exists():
        err(where, "missing")
        return
    docs = load_yaml_docs(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        err(where, "not one YAML mapping")
        return
    compose = docs[0]
    services = compose.get("services") or {}
    named_volumes = set((compose.get("volumes") or {}).keys())
    gateway = prometheus = grafana = None
    for name, svc in services.items():
        w = f"{where}: services.{name}"
        build = svc.get("build")
        if build is not None:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            ctx_path = (DEPLOY / ctx).resolve()
            if not ctx_path.is_dir():
                err(w, f"build context {ctx!r} is not a directory")
            dockerfile = (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            df = (ctx_path / dockerfile).resolve()
            if not df.is_file():
                err(w, f"build dockerfile {dockerfile!r} does not exist in the context")
            if df == (DEPLOY / "Dockerfile").resolve():
                if ctx_path != REPO:
                    err(w, "deploy/Dockerfile must be built with the repository root as context")
                gateway = (name, svc)
        elif not svc.get("image"):
            err(w, "neither build nor image")
        for host, _target, raw in compose_volumes(svc):
            if host is None:  # a named volume must be declared; an anonymous one has no source
                if isinstance(raw, str):
                    src = raw.split(":")[0] if ":" in raw else None
                else:
                    src = raw.get("source")
                if src and src not in named_volumes:
                    err(w, f"volume {src!r} is neither a host path nor a declared volume")
            elif not host.exists():
                if host.resolve() == DASHBOARD.resolve() and ALLOW_MISSING_DASHBOARD:
                    notes.append(
                        f"{rel(host)} is missing (tolerated: SCIMGATE_ALLOW_MISSING_DASHBOARD=1)"
                    )
                else:
                    err(w, f"mounted host path {rel(host)} does not exist")
        env_files = svc.get("env_file") or []
        if isinstance(env_files, str):
            env_files = [env_files]
        for ef in env_files:
            p, required = (
                (ef, True) if isinstance(ef, str) else (ef.get("path"), ef.get("required", True))
            )
            host = (DEPLOY / p).resolve()
            if not host.exists():
                example = host.with_name(host.name + ".example")
                if not example.exists() and required:
                    err(w, f"env_file {p!r} does not exist and has no {p}.example")
        deps = svc.get("depends_on") or []
        for d in deps if isinstance(deps, list) else deps.keys():
            if d not in services:
                err(w, f"depends_on {d!r}, which is not a service")
        image = str(svc.get("image", ""))
        if image.startswith(("prom/prometheus", "quay.io/prometheus/prometheus")):
            prometheus = (name, svc)
        if image.startswith("grafana/grafana"):
            grafana = (name, svc)

    if gateway is None:
        err(where, "no service builds deploy/Dockerfile")
        return
    gname, gsvc = gateway
    w = f"{where}: services.{gname}"
    args = gsvc.get("command") or docker["cmd"]
    if isinstance(args, str):
        args = args.split()
    flags = serve_flags(args)
    check_admin_binding(w, flags, bool(gsvc.get("command")))
    for p in gsvc.get("ports", []) or []:
        spec = str(p.get("published", "")) if isinstance(p, dict) else str(p)
        target = int(p["target"]) if isinstance(p, dict) else int(spec.split("/")[0].split(":")[-1])
        host_ip = p.get("host_ip") if isinstance(p, dict) else (
            spec.rsplit(":", 2)[0] if spec.count(":") >= 2 else None
        )
        if target == port_of(flags.get("admin")) and not is_loopback_addr(f"{host_ip}:0"):
            err(w, f"the admin port {target} is published on {host_ip or 'every interface'}, not 127.0.0.1")
    admin_port = port_of(flags.get("admin"))
    for flag in ("listen", "admin"):
        if port_of(flags.get(flag)) not in container_ports(gsvc):
            err(w, f"the --{flag} port {port_of(flags.get(flag))} is not published")
    gvols = compose_volumes(gsvc)
    pol_host = host_path_for(flags.get("policies", ""), gvols)
    if pol_host is None:
        err(w, f"nothing is mounted at --policies {flags.get('policies')}")
    elif not list(pol_host.glob("*.toml")):
        err(w, f"{rel(pol_host)} (mounted at --policies) holds no *.toml")
    else:
        pols = policies_in(pol_host)
        example = DEPLOY / "secrets.env.example"
        keys = env_file_keys(example) if example.exists() else set()
        for p, var in bearer_envs(pols):
            if var not in keys:
                err(rel(p), f"bearer_env {var} is not in deploy/secrets.env.example")
        for p, doc in pols:
            url = (doc.get("upstream") or {}).get("url", "")
            m = re.match(r"https?://([^/:]+)(?::(\d+))?", url)
            if not m:
                continue
            host, port = m.group(1), m.group(2)
            if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
                err(rel(p), f"upstream {url} is the gateway's own container under compose")
            elif "." not in host and host in services:
                svc_ports = container_ports(services[host])
                if port and int(port) not in svc_ports:
                    err(rel(p), f"upstream {url}: service {host} exposes {sorted(svc_ports)}")
            elif "." not in host:
                err(rel(p), f"upstream host {host!r} is not a compose service")

    # Prometheus: config and rule files mounted, scraping the gateway's admin port
    if prometheus is None:
        err(where, "no Prometheus service")
    else:
        pname, psvc = prometheus
        w = f"{where}: services.{pname}"
        pvols = compose_volumes(psvc)
        cfg = "/etc/prometheus/prometheus.yml"
        for a in psvc.get("command") or []:
            if str(a).startswith("--config.file="):
                cfg = str(a).split("=", 1)[1]
        host_cfg = host_path_for(cfg, pvols)
        if host_cfg is None or not host_cfg.is_file():
            err(w, f"no host file is mounted as its config {cfg}")
        else:
            conf = load_yaml_docs(host_cfg)[0]
            for rf in conf.get("rule_files") or []:
                cpath = rf if rf.startswith("/") else str(Path(cfg).parent / rf)
                h = host_path_for(cpath, pvols)
                if h is None or not h.is_file():
                    err(rel(host_cfg), f"rule file {rf} ({cpath} in the container) is not mounted")
                elif (host_cfg.parent / rf).resolve() != h.resolve():
                    err(rel(host_cfg), f"rule file {rf} resolves to another file on the host")
            targets = [
                t
                for sc in conf.get("scrape_configs") or []
                for st in sc.get("static_configs") or []
                for t in st.get("targets") or []
            ]
            if f"{gname}:{admin_port}" not in targets:
                err(rel(host_cfg), f"does not scrape {gname}:{admin_port} (targets: {targets})")
            for t in targets:
                h, _, port = t.rpartition(":")
                if (
                    h in services
                    and port
                    and int(port)
                    not in container_ports(services[h]) | ({admin_port} if h == gname else set())
                ):
                    err(rel(host_cfg), f"scrape target {t}: that service has no port {port}")
                elif h not in services and h != "localhost":
                    err(rel(host_cfg), f"scrape target {t} is not a compose service")

    # Grafana: provisioning mounted; datasource URLs are services; dashboards exist
    if grafana is None:
        err(where, "no Grafana service")
        return
    gfname, gfsvc = grafana
    w = f"{where}: services.{gfname}"
    gvols = compose_volumes(gfsvc)
    prov = host_path_for("/etc/grafana/provisioning", gvols)
    if prov is None or not prov.is_dir():
        err(w, "no host directory is mounted as /etc/grafana/provisioning")
        return
    ds_uids, ds_names = set(), set()
    for f in sorted((prov / "datasources").glob("*.y*ml")):
        for doc in load_yaml_docs(f):
            for ds in doc.get("datasources") or []:
                ds_uids.add(ds.get("uid"))
                ds_names.add(ds.get("name"))
                m = re.match(r"https?://([^/:]+)(?::(\d+))?", ds.get("url", ""))
                if not m:
                    err(rel(f), f"datasource {ds.get('name')} has no http(s) url")
                    continue
                h, port = m.group(1), m.group(2)
                if h not in services:
                    err(rel(f), f"datasource url {ds['url']}: {h} is not a compose service")
                elif port and int(port) not in container_ports(services[h]):
                    err(rel(f), f"datasource url {ds['url']}: {h} listens elsewhere")
    if not ds_uids:
        err(rel(prov), "no datasource provisioned")
    dashboards = []
    provider_files = sorted((prov / "dashboards").glob("*.y*ml"))
    if not provider_files:
        err(rel(prov), "no dashboard provider in dashboards/")
    for f in provider_files:
        for doc in load_yaml_docs(f):
            for pr in doc.get("providers") or []:
                cpath = ((pr.get("options") or {}).get("path")) or ""
                mounted = files_mounted_under(cpath, gvols)
                if not mounted:
                    err(rel(f), f"provider {pr.get('name')}: nothing is mounted under {cpath}")
                for host, _ in mounted:
                    if host.is_dir():
                        dashboards += sorted(host.rglob("*.json"))
                    else:
                        dashboards.append(host)
    home = gfsvc.get("environment") or {}
    home = home.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH") if isinstance(home, dict) else None
    if home and host_path_for(home, gvols) is None:
        err(w, f"GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH {home} is not mounted")
    if DASHBOARD.resolve() not in [d.resolve() for d in dashboards]:
        err(where, f"Grafana's dashboard providers do not load {rel(DASHBOARD)}")
    for d in dashboards:
        if not d.exists():
            if d.resolve() == DASHBOARD.resolve() and ALLOW_MISSING_DASHBOARD:
                continue
            err(rel(d), "provisioned dashboard does not exist")
            continue
        check_dashboard(d, ds_uids, ds_names)


def check_dashboard(path, ds_uids, ds_names):
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        err(rel(path), f"not JSON: {e}")
        return
    if not isinstance(dash, dict) or not dash.get("panels"):
        err(rel(path), "not a dashboard (no panels)")
        return
    if dash.get("__inputs"):
        err(rel(path), "has __inputs (an export for sharing): provisioning does not fill them")
    ds_vars = {
        v.get("name")
        for v in (dash.get("templating") or {}).get("list", [])
        if v.get("type") == "datasource"
    }
    builtin = {"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"}
    refs = []

    def walk(o):
        if isinstance(o, dict):
            if "datasource" in o:
                refs.append(o["datasource"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(dash)
    for r in refs:
        key = r.get("uid") if isinstance(r, dict) else r
        if key is None or key in builtin or key in ds_uids or key in ds_names:
            continue
        m = re.fullmatch(r"\$\{?(\w+)(?::\w+)?\}?", str(key))
        if m and m.group(1) in ds_vars:
            continue
        err(rel(path), f"datasource {key!r} is neither provisioned nor a datasource variable")


# ---------------------------------------------------------------------------------------------
# 4. deploy/k8s


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def k8s_resources():
    kpath = K8S / "kustomization.yaml"
    if not kpath.exists():
        err("deploy/k8s/kustomization.yaml", "missing")
        return None, []
    kust = load_yaml_docs(kpath)[0]
    listed = kust.get("resources") or []
    docs = []
    for r in listed:
        p = K8S / r
        if not p.is_file():
            err("deploy/k8s/kustomization.yaml", f"resource {r} does not exist")
            continue
        for d in load_yaml_docs(p):
            docs.append((p, d))
    for p in sorted(list(K8S.glob("*.yaml")) + list(K8S.glob("*.yml"))):
        if p.name not in ("kustomization.yaml", "kustomization.yml") and p.name not in listed:
            err("deploy/k8s/kustomization.yaml", f"does not list {p.name}")
    for p, d in docs:
        meta = d.get("metadata") if isinstance(d, dict) else None
        if not (
            isinstance(d, dict)
            and d.get("apiVersion")
            and d.get("kind")
            and isinstance(meta, dict)
            and meta.get("name")
        ):
            err(rel(p), "a document without apiVersion, kind and metadata.name")
    return kust, [(p, d) for p, d in docs if isinstance(d, dict)]


def configmap_policies(docs, name):
    for p, d in docs:
        if d.get("kind") == "ConfigMap" and d["metadata"].get("name") == name:
            return p, {k: v for k, v in (d.get("data") or {}).items() if k.endswith(".toml")}
    return None, {}


def check_k8s(docker):
    kust, docs = k8s_resources()
    if kust is None:
        return
    by_kind = {}
    for p, d in docs:
        by_kind.setdefault(d["kind"], []).append((p, d))
    ns = [d["metadata"]["name"] for _, d in by_kind.get("Namespace", [])]
    if ns and kust.get("namespace") not in ns:
        err("deploy/k8s/kustomization.yaml", f"namespace {kust.get('namespace')} is not {ns}")
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        err("deploy/k8s", f"{len(deployments)} Deployments, expected 1")
        return
    dpath, dep = deployments[0]
    w = rel(dpath)
    spec = dep.get("spec") or {}
    tmpl = spec.get("template") or {}
    pod_labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not labels_match((spec.get("selector") or {}).get("matchLabels"), pod_labels):
        err(w, "selector.matchLabels does not match the pod template's labels")
    pod = tmpl.get("spec") or {}
    psc = pod.get("securityContext") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        err(w, f"{len(containers)} containers, expected 1")
        return
    c = containers[0]
    csc = c.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True):
        err(w, "runAsNonRoot is not true")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    if uid == 0:
        err(w, "runAsUser is 0")
    if (
        docker.get("user")
        and docker["user"].isdigit()
        and uid is not None
        and str(uid) != docker["user"]
    ):
        err(w, f"runAsUser {uid} is not the image's USER {docker['user']}")
    if csc.get("readOnlyRootFilesystem") is not True:
        err(w, "readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        err(w, "allowPrivilegeEscalation is not false")

    args = c.get("args") or ([] if c.get("command") else docker["cmd"])
    flags = serve_flags(args)
    check_admin_binding(w, flags, bool(c.get("args") or c.get("command")))
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    if "admin" not in ports:
        err(w, "no container port named admin")
    elif ports["admin"] != port_of(flags.get("admin")):
        err(w, f"port admin is {ports['admin']}, the gateway's --admin is {flags.get('admin')}")
    if port_of(flags.get("listen")) not in ports.values():
        err(w, f"the --listen port {port_of(flags.get('listen'))} is not a container port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path:
            err(w, f"{probe} is not an httpGet of {path}")
        if get.get("port") not in ("admin", ports.get("admin")) or "admin" not in ports:
            err(w, f"{probe} does not use the admin port")

    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    policies_mount = None
    for m in c.get("volumeMounts") or []:
        v = volumes.get(m.get("name"))
        if v is None:
            err(w, f"volumeMount {m.get('name')} has no volume")
            continue
        if "configMap" in v and ("subPath" in m or "subPathExpr" in m):
            err(w, f"ConfigMap volume {m['name']} is mounted with subPath: it would never update")
        if m.get("mountPath", "").rstrip("/") == flags.get("policies", "").rstrip("/"):
            policies_mount = (m, v)
    if policies_mount is None:
        err(w, f"nothing is mounted at --policies {flags.get('policies')}")
        cm_name = None
    else:
        cm_name = (policies_mount[1].get("configMap") or {}).get("name")
        if cm_name is None:
            err(w, "the policies volume is not a ConfigMap")
    cm_path, cm_data = configmap_policies(docs, cm_name) if cm_name else (None, {})
    if cm_name and cm_path is None:
        err(w, f"ConfigMap {cm_name} is not among the kustomization's resources")
    elif cm_name and not cm_data:
        err(rel(cm_path), f"ConfigMap {cm_name} has no *.toml key")

    secrets = {d["metadata"]["name"]: d for _, d in by_kind.get("Secret", [])}
    env_keys = {e.get("name") for e in c.get("env") or []}
    for ef in c.get("envFrom") or []:
        ref = (ef.get("secretRef") or {}).get("name")
        if ref is None:
            continue
        if ref not in secrets:
            err(w, f"envFrom Secret {ref} is not among the kustomization's resources")
            continue
        s = secrets[ref]
        env_keys |= set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
    for key, text in cm_data.items():
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            err(f"{rel(cm_path)}: data.{key}", f"not TOML: {e}")
            continue
        for var in secret_envs(doc):
            if var not in env_keys:
                err(f"{rel(cm_path)}: data.{key}", f"secret variable {var} is in no Secret given to the pod")

    container_ports_by = {**{n: p for n, p in ports.items()}, **{p: p for p in ports.values()}}
    services = by_kind.get("Service", [])
    if not services:
        err("deploy/k8s", "no Service")
    for p, s in services:
        sw = f"{rel(p)}: Service {s['metadata']['name']}"
        if not labels_match((s.get("spec") or {}).get("selector"), pod_labels):
            err(sw, "selector does not match the Deployment's pods")
        for sp in (s.get("spec") or {}).get("ports") or []:
            if sp.get("targetPort", sp.get("port")) not in container_ports_by:
                err(sw, f"port {sp.get('name')} targets {sp.get('targetPort')}, no container port")
    if not any(
        sp.get("port") == port_of(flags.get("listen"))
        or sp.get("targetPort") in ("http", port_of(flags.get("listen")))
        for _, s in services
        for sp in (s.get("spec") or {}).get("ports") or []
    ):
        err("deploy/k8s", "no Service port reaches the --listen port")
    for p, pdb in by_kind.get("PodDisruptionBudget", []):
        if not labels_match(
            ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels"), pod_labels
        ):
            err(rel(p), "selector does not match the Deployment's pods")
    for p, sm in by_kind.get("ServiceMonitor", []):
        sw = rel(p)
        sel = ((sm.get("spec") or {}).get("selector") or {}).get("matchLabels")
        chosen = [s for _, s in services if labels_match(sel, s["metadata"].get("labels") or {})]
        if not chosen:
            err(sw, "selector matches no Service")
        for ep in (sm.get("spec") or {}).get("endpoints") or []:
            if ep.get("path", "/metrics") != "/metrics":
                err(sw, f"endpoint path {ep.get('path')} is not /metrics")
            found = [
                sp
                for s in chosen
                for sp in (s.get("spec") or {}).get("ports") or []
                if sp.get("name") == ep.get("port")
            ]
            if not found:
                err(sw, f"no selected Service has a port named {ep.get('port')}")
            for sp in found:
                if container_ports_by.get(sp.get("targetPort", sp.get("port"))) != ports.get(
                    "admin"
                ):
                    err(sw, f"port {ep.get('port')} does not reach the admin container port")
    if not by_kind.get("ServiceMonitor"):
        err("deploy/k8s", "no ServiceMonitor")

    kubectl = shutil.which("kubectl")
    if kubectl:
        r = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
        if r.returncode != 0:
            err("deploy/k8s", f"`kubectl kustomize` failed: {r.stderr.strip()}")
        else:
            notes.append("k8s: `kubectl kustomize deploy/k8s` renders")
    else:
        notes.append("k8s: kubectl not found, `kubectl kustomize` not run")


def check_promtool(parsed):
    promtool = shutil.which("promtool")
    configs = [
        p
        for p, docs in parsed.items()
        if docs and isinstance(docs[0], dict) and "scrape_configs" in docs[0]
    ]
    if not promtool:
        notes.append("promtool not found: Prometheus configs only parsed, not checked")
        return
    for p in configs:
        r = subprocess.run([promtool, "check", "config", str(p)], capture_output=True, text=True)
        if r.returncode != 0:
            err(rel(p), f"promtool check config: {(r.stdout + r.stderr).strip()}")
    notes.append(f"promtool check config: {', '.join(sorted(rel(p) for p in configs))}")


def extract_configmap(out_dir):
    _, docs = k8s_resources()
    deployment = next((d for _, d in docs if d.get("kind") == "Deployment"), {})
    vols = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes", [])
    names = [v["configMap"]["name"] for v in vols if "configMap" in v]
    out = Path(out_dir)
    n = 0
    for name in names:
        _, data = configmap_policies(docs, name)
        for key, text in data.items():
            (out / key).write_text(text, encoding="utf-8")
            n += 1
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"{n} policy file(s) from ConfigMap(s) {names} written to {out}")


def guarded(where, check, *args):
    """Run one group of checks; a file too malformed for it is a problem, not a crash."""
    try:
        return check(*args)
    except Exception as e:  # noqa: BLE001 - any shape the files may take
        err(where, f"cannot be checked, unexpected structure: {type(e).__name__}: {e}")
        return None


def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--extract-configmap":
        extract_configmap(sys.argv[3])
        return
    parsed = check_yaml_parses()
    if errors:  # the checks below read these files again
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    docker = guarded("deploy/Dockerfile", check_dockerfile) or {"cmd": [], "user": None}
    guarded("deploy/compose.yaml", check_compose, docker)
    guarded("deploy/k8s", check_k8s, docker)
    guarded("promtool", check_promtool, parsed)
    for n in notes:
        print(f"note: {n}")
    print(
        f"parsed {sum(len(d) for d in parsed.values())} YAML document(s) in {len(parsed)} file(s)"
    )
    if errors:
        print(f"{len(errors)} problem(s) in the deployment files:", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        sys.exit(1)
    print("deployment files: ok")


if __name__ == "__main__":
    main()
