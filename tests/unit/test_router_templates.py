"""consul-templates/ against the platform's contract: every KV key, record field, service name
and tag the templates read is one the platform writes. consul-template cannot be installed
here, so this is what keeps the templates from drifting silently when the key layout
(paas/store) or the tags (paas/router/tags.py) change.

What the platform writes is not restated here: it is taken from the real code, by running the
store against a KV that records writes, and by calling paas.router.tags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from paas.config import Settings
from paas.domain import names
from paas.domain.apps import App
from paas.router import tags
from paas.store.apps import ConsulAppStore
from paas.store.kv import ConsulKV

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "consul-templates"
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.ctmpl"))
PREFIX = Settings.kv_prefix  # the default, which the templates must default to as well

ACTION_RE = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.DOTALL)
KV_FUNCS = ("ls", "safeLs", "tree", "safeTree", "key", "keyOrDefault", "keyExists")
KV_CALL_RE = re.compile(
    r"\b(?P<func>" + "|".join(KV_FUNCS) + r')\s+(?:\(printf\s+"(?P<fmt>[^"]*)"\s+\$prefix\)|"(?P<literal>[^"]*)")'
)
SERVICE_CALL_RE = re.compile(r'\bservice\s+\(printf\s+"(?P<fmt>[^"]*)"\s+\$name\)')
CONTAINS_RE = re.compile(r'\.Tags\s*\|\s*contains\s+"(?P<tag>[^"]*)"')
ENV_RE = re.compile(r'\benv\s+"(?P<var>[A-Z0-9_]+)"')
APP_FIELD_RE = re.compile(r"\$app\.(?P<field>[A-Za-z_]+)")


class RecordingKV(ConsulKV):
    """The real key helpers; transactions are recorded instead of sent to Consul."""

    def __init__(self):
        super().__init__(client=None, prefix=PREFIX)
        self.writes: dict[str, object] = {}

    def txn(self, ops):
        import base64

        for op in ops:
            kv = op["KV"]
            if kv["Verb"] in ("set", "cas"):
                self.writes[kv["Key"]] = json.loads(base64.b64decode(kv["Value"]))
        return []


@pytest.fixture(scope="module")
def platform_writes() -> dict[str, object]:
    """What the platform writes for an app with a custom domain (key -> JSON value)."""
    kv = RecordingKV()
    app = App(name="myapp", owner="alice", created_at="2026-01-01T00:00:00Z", domains=["www.example.test"])
    ConsulAppStore(kv).add_domain(app, 1, "www.example.test")
    return kv.writes


def actions(path: Path) -> list[str]:
    """The template's actions ({{ ... }}), comments removed."""
    return [m.group(2).strip() for m in ACTION_RE.finditer(path.read_text())
            if not m.group(2).strip().startswith("/*")]


def all_templates_text() -> str:
    return "\n".join(" ".join(actions(p)) for p in TEMPLATES)


def test_the_templates_exist():
    assert {p.name for p in TEMPLATES} == {"haproxy.cfg.ctmpl", "traefik-dynamic.yml.ctmpl"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_blocks_balance(path):
    depth = 0
    for action in actions(path):
        word = action.split()[0] if action.split() else ""
        if word in ("range", "with", "if", "define", "block"):
            depth += 1
        elif word == "end":
            depth -= 1
            assert depth >= 0, f"{path.name}: unbalanced {{{{ end }}}}"
        elif word == "else":
            assert depth > 0, f"{path.name}: else outside a block"
    assert depth == 0, f"{path.name}: {depth} block(s) not closed"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_settings_default_like_the_platform(path):
    text = " ".join(actions(path))
    assert f'$prefix := or (env "PAAS_KV_PREFIX") "{PREFIX}"' in text
    assert f'$domain := or (env "PAAS_DOMAIN") "{Settings.platform_domain}"' in text


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_kv_read_is_a_key_the_platform_writes(path, platform_writes):
    text = " ".join(actions(path))
    calls = list(KV_CALL_RE.finditer(text))
    # Every use of a KV function has the one checkable form: fn (printf "FMT" $prefix) or "literal".
    uses = re.findall(r"\b(?:" + "|".join(KV_FUNCS) + r")\b", text)
    assert len(uses) == len(calls), f"{path.name}: a KV read in a form this test cannot check"
    assert calls, f"{path.name} reads no KV at all?"
    for call in calls:
        assert call["literal"] is None, f"{path.name}: hard-coded KV path {call['literal']!r}; use $prefix"
        key = call["fmt"] % PREFIX
        if call["func"] in ("ls", "safeLs", "tree", "safeTree"):
            children = {k: v for k, v in platform_writes.items() if k.startswith(key + "/")}
            assert children, f"{path.name}: {call['func']} {key!r}: the platform writes nothing there"
        else:
            assert key in platform_writes, f"{path.name}: key {key!r} is not one the platform writes"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_app_records_are_listed_by_name_and_fields_exist(path, platform_writes):
    text = path.read_text()
    # `ls <prefix>/apps` yields .Key = the app name: the store's key for app X is <prefix>/apps/X.
    assert "printf \"%s/apps\" $prefix" in text
    record = platform_writes[f"{PREFIX}/apps/myapp"]
    assert ConsulAppStore(RecordingKV())._key("myapp") == f"{PREFIX}/apps/myapp"
    assert record["name"] == "myapp"
    for field in APP_FIELD_RE.findall(text):
        assert field in record, f"{path.name}: $app.{field} is not a field of the app record {sorted(record)}"
    assert isinstance(record["domains"], list)
    assert re.search(r"\$name := \.Key", text), "the app name must come from the record's key"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_services_and_tags_are_the_schedulers(path):
    text = " ".join(actions(path))
    calls = list(SERVICE_CALL_RE.finditer(text))
    assert len(calls) == len(re.findall(r"\bservice\b", text)), f"{path.name}: a service read this test cannot check"
    assert calls
    live = tags.live_tags("myapp", 3, ["myapp.paas.test"], force_tls=True, https_port=8443)
    canary = tags.canary_tags("myapp", 3)
    for call in calls:
        tag, _, name_fmt = call["fmt"].rpartition(".")
        assert name_fmt % "myapp" == names.service("myapp"), call["fmt"]
        # The tag filter selects promoted instances and never a canary.
        assert tag in live and tag not in canary, f"{path.name}: tag filter {tag!r}"
    for tag in CONTAINS_RE.findall(text):
        assert tag in live or tag in canary, f"{path.name}: reads tag {tag!r}, which no instance carries"
    if "contains \"canary\"" in text:
        assert tags.CANARY_TAG in canary and not any(tags.CANARY_TAG in tags.live_tags("a-b", 1, ["a.b.c"], **kw)
                                                     for kw in ({}, {"force_tls": True}))
    if "contains \"tls=force\"" in text:
        assert tags.TLS_FORCE_TAG in live and tags.TLS_FORCE_TAG not in tags.live_tags("myapp", 3, ["myapp.paas.test"])


def test_every_setting_a_template_reads_is_documented():
    doc = (REPO / "docs" / "router.md").read_text()
    hcl = (TEMPLATE_DIR / "consul-template.hcl").read_text()
    for var in set(ENV_RE.findall(all_templates_text())):
        assert var in doc, f"docs/router.md does not mention {var}"
        assert var in hcl, f"consul-template.hcl does not mention {var}"


def test_traefik_template_uses_the_platform_entrypoints():
    text = (TEMPLATE_DIR / "traefik-dynamic.yml.ctmpl").read_text()
    assert f"entryPoints: [{tags.HTTP_ENTRYPOINT}]" in text
    assert f"entryPoints: [{tags.HTTPS_ENTRYPOINT}]" in text
    static = (REPO / "scripts" / "services.sh").read_text()
    for entrypoint in (tags.HTTP_ENTRYPOINT, tags.HTTPS_ENTRYPOINT):
        assert re.search(rf"^  {entrypoint}:\n    address:", static, re.M), entrypoint
    assert "{{ $name }}-retry" in text and f"attempts: {tags.DEFAULT_RETRY_ATTEMPTS}" in text


def test_consul_template_config_renders_both_templates():
    hcl = (TEMPLATE_DIR / "consul-template.hcl").read_text()
    blocks = re.findall(r"^template\s*\{(.*?)^\}", hcl, re.M | re.S)
    sources = [re.search(r'^\s*source\s*=\s*"([^"]+)"', b, re.M).group(1) for b in blocks]
    assert sorted(Path(s).name for s in sources) == [p.name for p in TEMPLATES]
    for block in blocks:
        assert re.search(r'^\s*destination\s*=\s*"/', block, re.M)
    haproxy = next(b for b in blocks if "haproxy.cfg.ctmpl" in b)
    assert "haproxy -c" in haproxy and "USR2" in haproxy  # checked, then a hitless reload


# ---------------------------------------------------------------- rendered (tests.support.ctmpl)

class FakeConsul:
    """KV records as the store writes them; instances tagged as the scheduler tags them."""

    def __init__(self, writes: dict[str, object], instances: dict[str, list[dict]]):
        self.writes, self.instances = writes, instances

    def ls(self, prefix: str) -> list[dict]:
        prefix = prefix.rstrip("/") + "/"
        return [{"Key": k[len(prefix):], "Value": json.dumps(v)} for k, v in sorted(self.writes.items())
                if k.startswith(prefix) and "/" not in k[len(prefix):]]

    def service(self, name: str, tag: str | None) -> list[dict]:
        return [i for i in self.instances.get(name, []) if tag is None or tag in i["Tags"]]


def instance(n: int, tag_list: list[str]) -> dict:
    return {"ID": f"myapp-web-{n}", "Address": "127.0.0.1", "Port": 31000 + n, "Tags": tag_list}


def render(name: str, platform_writes, instances, **env) -> str:
    from tests.support.ctmpl import Renderer

    text = (TEMPLATE_DIR / name).read_text()
    return Renderer(FakeConsul(platform_writes, instances), env=env).render(text)


HOSTS = tags.app_hosts("myapp", ["www.example.test"], Settings.platform_domain)


def test_rendered_traefik_config_matches_the_tags(platform_writes):
    import yaml

    live = instance(1, tags.live_tags("myapp", 2, HOSTS))
    canary = instance(2, tags.canary_tags("myapp", 3))
    conf = yaml.safe_load(render("traefik-dynamic.yml.ctmpl", platform_writes, {"myapp-web": [live, canary]}))
    http = conf["http"]
    assert http["routers"]["myapp"]["rule"] == tags.host_rule(HOSTS)  # the same rule as the tags
    assert http["routers"]["myapp"]["middlewares"] == ["myapp-retry"]
    assert http["routers"]["myapp-secure"]["tls"] == {}
    assert http["services"]["myapp"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:31001"}]

    forced = instance(1, tags.live_tags("myapp", 2, HOSTS, force_tls=True, https_port=8443))
    conf = yaml.safe_load(render("traefik-dynamic.yml.ctmpl", platform_writes, {"myapp-web": [forced]},
                                 PAAS_HTTPS_PORT="8443"))
    assert conf["http"]["routers"]["myapp"]["middlewares"] == ["myapp-https"]
    assert conf["http"]["middlewares"]["myapp-https"]["redirectScheme"]["port"] == "8443"

    conf = yaml.safe_load(render("traefik-dynamic.yml.ctmpl", platform_writes, {}))
    assert conf["http"]["services"]["myapp"]["loadBalancer"]["servers"] == []


def test_rendered_haproxy_config(platform_writes):
    live = instance(1, tags.live_tags("myapp", 2, HOSTS, force_tls=True))
    canary = instance(2, tags.canary_tags("myapp", 3))
    cfg = render("haproxy.cfg.ctmpl", platform_writes, {"myapp-web": [live, canary]},
                 PAAS_HAPROXY_CERTS="/etc/haproxy/certs")
    assert "acl host_myapp hdr(host),field(1,:),lower -m str " + " ".join(HOSTS) in cfg
    assert "http-request redirect scheme https code 301 if host_myapp" in cfg
    assert "    server myapp-web-1 127.0.0.1:31001" in cfg
    assert "myapp-web-2" not in cfg and "31002" not in cfg  # the canary
    assert cfg.count("use_backend app_myapp if host_myapp") == 2  # http and https frontends
    plain = render("haproxy.cfg.ctmpl", platform_writes, {"myapp-web": [live]})
    assert "frontend https" not in plain and "redirect" not in plain  # no certificates: no HTTPS
