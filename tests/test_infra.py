"""AWS deployment, checked offline: the CloudFormation template (cfn-lint and its structure),
the Lambda package (built for this interpreter, imported on its own, called with a Function
URL event) and the publish/deploy scripts in DRY_RUN mode (commands printed, none run)."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import cfn_yaml
from PIL import Image

from micro.api.middleware import API_CSP, site_csp
from micro.cache import CACHE_CONTROL, ORIGIN_TAG
from micro.core import version as core_version
from micro.core.catalog import Catalog, default_catalog
from micro.core.version import package_version, render_version

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"infra_{name}", INFRA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build_lambda = _module("build_lambda")
publish = _module("publish")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def current_render_version() -> str:
    """The render version of the sources and data as they are now (not as first imported)."""
    core_version.source_digest.cache_clear()
    return render_version(Catalog.load())


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def one(template: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = resources(template, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def dist_config(template: dict[str, Any]) -> dict[str, Any]:
    return one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]


def behaviour(config: dict[str, Any], pattern: str) -> dict[str, Any]:
    matches = [b for b in config["CacheBehaviors"] if b["PathPattern"].lstrip("/") == pattern]
    assert len(matches) == 1, f"one behaviour for {pattern}"
    return matches[0]


def origin(config: dict[str, Any], origin_id: str) -> dict[str, Any]:
    return next(o for o in config["Origins"] if o["Id"] == origin_id)


def csp_directives(csp: str) -> dict[str, set[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = set(words[1:])
    return out


# --------------------------------------------------------------------------- cfn-lint

def test_cfn_lint_passes_on_the_template() -> None:
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=LINT_REGIONS))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


@pytest.mark.parametrize(("good", "bad", "rule"), [
    ("FailoverCriteria:", "FailoverCriterion:", "E3003"),
    ("!GetAtt RenderFunctionUrl.FunctionUrl", "!GetAtt RenderFunctionUrl.Url", "E1017"),
    ("SigningBehavior: always", "SigningBehavior: sometimes", "E3031"),
])
def test_cfn_lint_catches_a_broken_template(tmp_path: Path, good: str, bad: str,
                                            rule: str) -> None:
    # The lint above could pass vacuously if the linter skipped the file: break it on purpose.
    text = TEMPLATE.read_text(encoding="utf-8")
    assert good in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(good, bad, 1), encoding="utf-8")
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1"]))
    assert rule in {m.rule.id for m in matches}


# --------------------------------------------------------------------------- structure

def test_renders_fail_over_from_s3_to_the_function_on_403_and_404(template) -> None:
    config = dist_config(template)
    groups = config["OriginGroups"]
    assert groups["Quantity"] == len(groups["Items"]) == 1
    group = groups["Items"][0]
    codes = group["FailoverCriteria"]["StatusCodes"]
    assert sorted(codes["Items"]) == [403, 404]
    assert codes["Quantity"] == 2
    members = [m["OriginId"] for m in group["Members"]["Items"]]
    assert group["Members"]["Quantity"] == 2
    s3, fn = members
    assert "S3OriginConfig" in origin(config, s3), "S3 must be asked first"
    assert "CustomOriginConfig" in origin(config, fn)
    renders = behaviour(config, "r/*")
    assert renders["TargetOriginId"] == group["Id"]
    assert set(renders["AllowedMethods"]) <= {"GET", "HEAD", "OPTIONS"}


def test_both_origins_are_signed_through_origin_access_control(template) -> None:
    config = dist_config(template)
    oacs = {k: v["Properties"]["OriginAccessControlConfig"]
            for k, v in resources(template, "AWS::CloudFront::OriginAccessControl").items()}
    kinds = {}
    for o in config["Origins"]:
        ref = o["OriginAccessControlId"]
        assert ref["Fn::GetAtt"][1] == "Id"
        oac = oacs[ref["Fn::GetAtt"][0]]
        assert oac["SigningBehavior"] == "always"
        assert oac["SigningProtocol"] == "sigv4"
        kinds[o["Id"]] = oac["OriginAccessControlOriginType"]
    assert sorted(kinds.values()) == ["lambda", "s3"]
    s3 = next(o for o in config["Origins"] if kinds[o["Id"]] == "s3")
    assert s3["S3OriginConfig"]["OriginAccessIdentity"] == ""  # no legacy OAI
    assert s3["DomainName"] == {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]}
    fn = next(o for o in config["Origins"] if kinds[o["Id"]] == "lambda")
    assert fn["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # The Function URL's host name, from https://<host>/
    assert fn["DomainName"] == {"Fn::Select": [2, {"Fn::Split": [
        "/", {"Fn::GetAtt": ["RenderFunctionUrl", "FunctionUrl"]}]}]}


def test_function_url_needs_iam_and_only_the_distribution_may_invoke(template) -> None:
    url = one(template, "AWS::Lambda::Url")
    assert url["AuthType"] == "AWS_IAM"
    assert url["TargetFunctionArn"] == {"Fn::GetAtt": ["RenderFunction", "Arn"]}
    perms = [r["Properties"] for r in resources(template, "AWS::Lambda::Permission").values()]
    assert sorted(p["Action"] for p in perms) == ["lambda:InvokeFunction",
                                                  "lambda:InvokeFunctionUrl"]
    for p in perms:
        assert p["Principal"] == "cloudfront.amazonaws.com"
        assert p["FunctionName"] == {"Ref": "RenderFunction"}
        source = p["SourceArn"]["Fn::Sub"]
        assert source.startswith("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:")
        assert source.endswith(":distribution/${Distribution}")
    url_perm = next(p for p in perms if p["Action"] == "lambda:InvokeFunctionUrl")
    assert url_perm["FunctionUrlAuthType"] == "AWS_IAM"


def test_api_site_and_error_behaviours(template) -> None:
    config = dist_config(template)
    groups = {g["Id"] for g in config["OriginGroups"]["Items"]}
    fn_origin = next(o["Id"] for o in config["Origins"] if "CustomOriginConfig" in o)
    api = behaviour(config, "api/*")
    assert api["TargetOriginId"] == fn_origin
    assert "POST" in api["AllowedMethods"]
    # Host must not be forwarded to a Function URL (AllViewerExceptHostHeader).
    assert api["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] not in groups | {fn_origin}
    assert "S3OriginConfig" in origin(config, default["TargetOriginId"])
    assert config["DefaultRootObject"] == "index.html"
    for b in (default, *config["CacheBehaviors"]):
        assert b["ViewerProtocolPolicy"] == "redirect-to-https"
    errors = {e["ErrorCode"]: e for e in config["CustomErrorResponses"]}
    assert {403, 404, 500, 502, 503, 504} <= set(errors)
    assert all(e["ErrorCachingMinTTL"] <= 10 for e in errors.values())
    assert errors[403]["ResponsePagePath"] == "/404.html"
    assert errors[403]["ResponseCode"] == 404
    # Other errors keep the origin's body (the API's JSON errors).
    assert all("ResponsePagePath" not in e for code, e in errors.items() if code != 403)


def test_cache_policies_immutable_renders_short_html(template) -> None:
    config = dist_config(template)
    policies = {k: v["Properties"]["CachePolicyConfig"]
                for k, v in resources(template, "AWS::CloudFront::CachePolicy").items()}
    renders = policies[behaviour(config, "r/*")["CachePolicyId"]["Ref"]]
    key = renders["ParametersInCacheKeyAndForwardedToOrigin"]
    # only a render signature reaches the function: other query strings make no new keys
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "whitelist",
                                         "QueryStrings": ["sig"]}
    assert key["HeadersConfig"]["HeaderBehavior"] == "none"
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    assert renders["DefaultTTL"] == renders["MaxTTL"] == 31536000
    site = policies[config["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]]
    assert site["DefaultTTL"] <= 600
    assert site["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"][
        "QueryStringBehavior"] == "none"


def test_response_headers_match_the_app(template) -> None:
    config = dist_config(template)
    policies = {k: v["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
                for k, v in resources(template,
                                      "AWS::CloudFront::ResponseHeadersPolicy").items()}
    used = {"site": config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"],
            "r": behaviour(config, "r/*")["ResponseHeadersPolicyId"]["Ref"],
            "api": behaviour(config, "api/*")["ResponseHeadersPolicyId"]["Ref"]}
    for name in used.values():
        h = policies[name]
        assert h["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
        assert h["StrictTransportSecurity"]["Override"] is True
        assert h["ContentTypeOptions"]["Override"] is True  # X-Content-Type-Options: nosniff
        assert h["FrameOptions"]["FrameOption"] == "DENY"
        assert h["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
        csp = csp_directives(h["ContentSecurityPolicy"]["ContentSecurityPolicy"])
        assert csp["frame-ancestors"] == {"'none'"}
    site = policies[used["site"]]["ContentSecurityPolicy"]
    assert csp_directives(site["ContentSecurityPolicy"]) == csp_directives(site_csp())
    assert site["Override"] is True
    for name in (used["r"], used["api"]):
        csp = policies[name]["ContentSecurityPolicy"]
        assert csp_directives(csp["ContentSecurityPolicy"]) == csp_directives(API_CSP)


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_render_function_role_is_least_privilege(template) -> None:
    role = template["Resources"]["RenderFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = [s for p in role["Policies"] for s in _statements(p["PolicyDocument"])]
    # the signing key's statement exists only when a secret is given (Fn::If), for it alone
    conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
    statements = [s for s in statements if "Fn::If" not in s]
    assert [c[0] for c in conditional] == ["HasSigningSecret"]
    assert conditional[0][1]["Action"] == "secretsmanager:GetSecretValue"
    assert conditional[0][1]["Resource"] == {"Ref": "SigningKeySecretArn"}
    assert all(s["Effect"] == "Allow" for s in statements)
    object_actions: set[str] = set()
    for s in statements:
        actions = _as_list(s["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), actions
        assert "*" not in _as_list(s["Resource"])
        if any(a.startswith("s3:") and a != "s3:ListBucket" for a in actions):
            assert s["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/r/*"}
            object_actions |= set(actions)
        elif actions == ["s3:ListBucket"]:
            assert s["Resource"] == {"Fn::GetAtt": ["SiteBucket", "Arn"]}
        else:
            assert all(a.startswith("logs:") for a in actions)
            assert s["Resource"] == {"Fn::GetAtt": ["RenderLogGroup", "Arn"]}
    assert object_actions == {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"}
    fn = template["Resources"]["RenderFunction"]["Properties"]
    assert fn["Role"] == {"Fn::GetAtt": ["RenderFunctionRole", "Arn"]}


def test_bucket_is_private_encrypted_and_read_only_by_the_distribution(template) -> None:
    bucket = template["Resources"]["SiteBucket"]["Properties"]
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(block[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy",
                                          "IgnorePublicAcls", "RestrictPublicBuckets"))
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    policy = one(template, "AWS::S3::BucketPolicy")["PolicyDocument"]
    allows = [s for s in _statements(policy) if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert _as_list(allow["Action"]) == ["s3:GetObject"]
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${Distribution}")


def test_lifecycle_expires_only_tagged_on_demand_renders(template) -> None:
    rules = template["Resources"]["SiteBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if "ExpirationInDays" in r]
    assert len(expiring) == 1
    rule = expiring[0]
    assert rule["Status"] == "Enabled"
    assert rule["Prefix"] == "r/"
    key, value = ORIGIN_TAG.split("=")  # the tag the S3 cache puts on what it writes
    assert rule["TagFilters"] == [{"Key": key, "Value": value}]
    assert rule["ExpirationInDays"] == {"Ref": "RenderExpirationDays"}


def test_function_matches_the_package(template) -> None:
    fn = template["Resources"]["RenderFunction"]["Properties"]
    params = template["Parameters"]
    assert fn["Runtime"] == build_lambda.RUNTIME == "python3.12"
    assert fn["Architectures"] == [build_lambda.ARCHITECTURE]
    assert all(p.endswith("_" + build_lambda.ARCHITECTURE) for p in build_lambda.LAMBDA.platforms)
    assert fn["Handler"] == "handler.handler"
    assert fn["Code"] == "../build/lambda.zip"
    env = fn["Environment"]["Variables"]
    assert env["MICRO_CACHE"] == {"Fn::Sub": "s3://${SiteBucket}"}  # keys are r/<version>/…
    assert env["MICRO_SITE_DIR"] == ""
    assert env["MICRO_ALLOWED_ORIGINS"] == {"Ref": "AllowedOrigins"}
    assert fn["MemorySize"] == {"Ref": "MemorySize"}
    assert fn["Timeout"] == {"Ref": "Timeout"}
    assert params["MemorySize"]["Default"] >= 2048
    # The function answers before CloudFront gives up on it.
    read_timeout = origin(dist_config(template), "RenderFunctionOrigin")[
        "CustomOriginConfig"]["OriginReadTimeout"]
    assert params["Timeout"]["MaxValue"] <= read_timeout
    assert params["RenderTimeout"]["Default"] < params["Timeout"]["Default"]
    reserved = fn["ReservedConcurrentExecutions"]["Fn::If"]
    assert reserved[1] == {"Ref": "ReservedConcurrency"}
    outputs = template["Outputs"]
    assert {"SiteUrl", "SiteBucket", "RenderFunctionName", "DistributionId"} <= set(outputs)


def test_manylinux_platforms_accept_older_tags() -> None:
    tags = build_lambda.manylinux_platforms((2, 28), "x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert not any("2_29" in t or "2_34" in t for t in tags)


def test_lambda_requirements_come_from_pyproject_without_edge_only_packages() -> None:
    reqs = build_lambda.requirements()
    names = {build_lambda._name(r) for r in reqs}
    assert {"numpy", "scipy", "pillow", "pydantic", "pydantic-settings", "fastapi",
            "mangum"} == names
    assert not names & {"boto3", "botocore", "click", "jinja2", "openai", "markdown-it-py",
                        "uvicorn"}
    assert all(any(op in r for op in (">=", "<", "==", "~=")) for r in reqs)


# --------------------------------------------------------------------------- the package

FUNCTION_URL_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/api/health",
    "rawQueryString": "",
    "headers": {
        "host": "abcdefghij.lambda-url.us-east-1.on.aws",
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": "203.0.113.7",
        "user-agent": "Amazon CloudFront",
        "accept": "application/json",
    },
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "abcdefghij",
        "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": "123456789012",
                               "callerId": "cloudfront", "userArn": "cloudfront",
                               "userId": "cloudfront"}},
        "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
        "domainPrefix": "abcdefghij",
        "http": {"method": "GET", "path": "/api/health", "protocol": "HTTP/1.1",
                 "sourceIp": "203.0.113.7", "userAgent": "Amazon CloudFront"},
        "requestId": "c0ffee00-1234-5678-9abc-def012345678",
        "routeKey": "$default",
        "stage": "$default",
        "time": "01/Jan/2025:00:00:00 +0000",
        "timeEpoch": 1735689600000,
    },
    "isBase64Encoded": False,
}

# Runs with `python -I -S`: no site-packages, only the unpacked package on sys.path.
SMOKE = r"""
import json, sys, time
root = sys.argv[1]
sys.path.insert(0, root)
t = time.perf_counter()
import handler
import_s = time.perf_counter() - t

class Context:
    aws_request_id = "c0ffee00-1234-5678-9abc-def012345678"
    function_name = "micro-render"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:micro-render"
    def get_remaining_time_in_millis(self):
        return 30000

def call(event):
    # Follows redirects (the API's 308 to a canonical path) with the same event shape.
    for _ in range(3):
        response = handler.handler(event, Context())
        location = (response.get("headers") or {}).get("location")
        if response["statusCode"] not in (301, 302, 307, 308) or not location:
            return response
        path, _, query = location.partition("?")
        event = json.loads(json.dumps(event))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["rawQueryString"] = query
    return response

responses = [call(json.loads(e)) for e in sys.argv[2:]]
outside = sorted({m.__file__ for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) and "site-packages" in m.__file__})
edge_only = sorted(n for n in ("click", "jinja2", "openai", "markdown_it", "uvicorn",
                               "boto3", "botocore") if n in sys.modules)
print(json.dumps({"import_s": import_s, "responses": responses, "outside": outside,
                  "edge_only": edge_only}))
"""


def _event(path: str, query: str = "") -> str:
    event = json.loads(json.dumps(FUNCTION_URL_EVENT))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query
    return json.dumps(event)


@pytest.fixture(scope="module")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`build_lambda.py --local`: the real build, for this interpreter's tags; unpacked."""
    tmp = tmp_path_factory.mktemp("lambda")
    out = tmp / "lambda.zip"
    result = subprocess.run(
        [sys.executable, str(INFRA / "build_lambda.py"), "--local", "-o", str(out),
         "--work-dir", str(tmp / "work"), "--compresslevel", "1"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    unpacked = tmp / "unpacked"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unpacked)
    return unpacked, result.stdout


@pytest.mark.slow
def test_package_contents(lambda_package: tuple[Path, str]) -> None:
    root, log = lambda_package
    assert (root / "handler.py").is_file()
    assert (root / "micro" / "api" / "app.py").is_file()
    assert (root / "micro" / "data" / "instruments").is_dir()
    assert not (root / "micro" / "data" / "schema").exists()
    assert not (root / "data").exists()
    assert (root / f"micro-{package_version()}.dist-info" / "METADATA").is_file()
    tops = {p.name.split("-")[0].lower() for p in root.iterdir()}
    assert {"numpy", "scipy", "pil", "pydantic", "fastapi", "mangum"} <= tops
    assert not tops & {"boto3", "botocore", "click", "jinja2", "openai", "markdown_it"}
    assert not list(root.rglob("tests"))
    tag = ".cpython-{}{}.".format(*sys.version_info[:2])
    assert not [p for p in root.rglob("*.pyc") if tag not in p.name]
    assert "zipped" in log and "unzipped" in log


@pytest.mark.slow
def test_handler_answers_a_function_url_event_from_the_package_alone(
        lambda_package: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = lambda_package
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "AWS_LAMBDA_FUNCTION_NAME": "micro-render", "AWS_REGION": "us-east-1",
           "MICRO_CACHE": str(tmp_path / "cache"), "MICRO_SITE_DIR": ""}
    events = [_event("/api/health"), _event("/api/instruments"),
              _event("/api/render/imaging", "instrument=ct-64-slice&phantom=shepp-logan"
                     "&size=256&format=png")]
    result = subprocess.run([sys.executable, "-I", "-S", "-c", SMOKE, str(root), *events],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outside"] == []
    assert report["edge_only"] == []
    health, instruments, render = report["responses"]
    assert health["statusCode"] == 200
    headers = {k.lower(): v for k, v in health["headers"].items()}
    assert headers["content-type"].startswith("application/json")
    body = health["body"]
    if health.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    data = json.loads(body)
    assert data["status"] == "ok"
    # The package carries the project's version (its dist-info), so the render version that
    # Lambda computes is the build machine's for the same sources and data. (Compared with
    # the full environment over the unpacked files: the tree may change under a running test.)
    assert data["version"] == package_version()
    build_machine = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from micro.core.catalog import Catalog; from micro.core.version import "
         "render_version; print(render_version(Catalog.load(sys.argv[1] + '/micro/data')))",
         str(root)], capture_output=True, text=True, timeout=120)
    assert build_machine.returncode == 0, build_machine.stderr[-2000:]
    assert data["render_version"] == build_machine.stdout.strip()
    assert instruments["statusCode"] == 200
    listed = {i["id"] for i in json.loads(instruments["body"])}
    assert listed == set(default_catalog().instruments) != set()
    # A render through NumPy/SciPy/Pillow as packaged (stripped extension modules included),
    # reached by the API's redirect to its canonical path and stored in the cache.
    assert render["statusCode"] == 200, render.get("body", "")[:500]
    headers = {k.lower(): v for k, v in render["headers"].items()}
    assert headers["content-type"] == "image/png"
    assert headers["cache-control"] == CACHE_CONTROL
    assert render["isBase64Encoded"] is True
    image = Image.open(io.BytesIO(base64.b64decode(render["body"])))
    assert image.format == "PNG" and image.width == 256
    assert len(list((tmp_path / "cache" / "r").rglob("*.png"))) == 1


# --------------------------------------------------------------------------- publish/deploy

@pytest.fixture
def fake_cli(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `aws` and `sam` only record that they were called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.log"
    for name in ("aws", "sam"):
        script = bindir / name
        script.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {shlex.quote(str(calls))}\nexit 9\n")
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "STACK_", "SITE_", "DISTRIBUTION_", "SAM_"))}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["DRY_RUN"] = "1"
    return env, calls


def commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith("+ ")]


def option(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def options(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, word in enumerate(cmd) if word == name]


def make_site(root: Path, version: str) -> Path:
    site = root / "site"
    files = {
        "index.html": "<!doctype html>", "404.html": "<!doctype html>",
        "courses/histology/index.html": "<!doctype html>",
        "static/css/micro.css": "body{}", "static/js/viewer.js": "export {}",
        "manifest.json": json.dumps({"version": version, "paths": []}),
        f"r/{version}/m/a/b/c.jpg": "jpg", f"r/{version}/m/a/b/d.png": "png",
        f"r/{version}/i/ct/x/y.npy": "npy",
    }
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    return site


def run_publish(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(INFRA / "publish.py")], env=env,
                          capture_output=True, text=True, timeout=120)


def test_publish_dry_run_prints_the_sync_and_invalidation(fake_cli, tmp_path) -> None:
    env, calls = fake_cli
    version = current_render_version()
    site = make_site(tmp_path, version)
    env.update(SITE_DIR=str(site), SITE_BUCKET="micro-test-bucket",
               DISTRIBUTION_ID="E2EXAMPLE", AWS_REGION="eu-west-1", HTML_MAX_AGE_S="120")
    result = run_publish(env)
    assert result.returncode == 0, result.stderr
    assert not calls.exists(), "DRY_RUN must not run aws"
    cmds = commands(result.stdout)
    assert all(c[:3] == ["aws", "--region", "eu-west-1"] for c in cmds)
    syncs = [c for c in cmds if c[3:5] == ["s3", "sync"]]
    renders = [c for c in syncs if c[5] == f"{site}/r"]
    assert renders and all(c[6] == "s3://micro-test-bucket/r" for c in renders)
    assert all(option(c, "--cache-control") == CACHE_CONTROL for c in renders)
    assert all("--delete" not in c for c in renders)  # on-demand renders live there too
    types = {tuple(options(c, "--include")): option(c, "--content-type") for c in renders}
    assert types == {("*.jpg",): "image/jpeg", ("*.png",): "image/png",
                     ("*.npy",): "application/octet-stream"}
    html = [c for c in syncs if "*.html" in options(c, "--include")]
    data = [c for c in syncs if "*.json" in options(c, "--include")]
    assert len(html) == len(data) == 1
    assert option(html[0], "--content-type").startswith("text/html")
    assert option(data[0], "--content-type") == "application/json"
    for cmd in html + data:  # pages and the data naming the version: short-lived
        assert option(cmd, "--cache-control").startswith("public, max-age=120")
        assert "r/*" in options(cmd, "--exclude")
        assert "--delete" in cmd
    assets = [c for c in syncs if c not in renders + html + data]
    assert {i for c in assets for i in options(c, "--include")} == {"*.css", "*.js"}
    assert all(option(c, "--cache-control") == "public, max-age=3600" for c in assets)
    # Order: renders, then assets, then data and pages, then the invalidation.
    assert cmds.index(renders[-1]) < cmds.index(assets[-1]) < cmds.index(data[0])
    assert cmds.index(assets[-1]) < cmds.index(html[0])
    inval = cmds[-1]
    assert inval[3:5] == ["cloudfront", "create-invalidation"]
    assert option(inval, "--distribution-id") == "E2EXAMPLE"
    paths = inval[inval.index("--paths") + 1:]
    assert {"/index.html", "/404.html", "/courses/histology/index.html",
            "/manifest.json"} <= set(paths)
    assert not [p for p in paths if p.startswith("/r/")]


def test_publish_reads_bucket_and_distribution_from_the_stack(fake_cli, tmp_path) -> None:
    env, calls = fake_cli
    site = make_site(tmp_path, current_render_version())
    env.update(SITE_DIR=str(site), STACK_NAME="micro-staging", SITE_BUCKET="",
               DISTRIBUTION_ID="")
    result = run_publish(env)
    assert result.returncode == 0, result.stderr
    assert not calls.exists()
    cmds = commands(result.stdout)
    lookups = [c for c in cmds if c[3:5] == ["cloudformation", "describe-stacks"]]
    assert [option(c, "--stack-name") for c in lookups] == ["micro-staging"] * 2
    assert {option(c, "--region") for c in cmds} == {"us-east-1"}  # from infra/config
    queries = " ".join(option(c, "--query") for c in lookups)
    assert "SiteBucket" in queries and "DistributionId" in queries


def test_publish_refuses_a_site_built_by_other_code(fake_cli, tmp_path) -> None:
    env, _ = fake_cli
    site = make_site(tmp_path, "0123456789")
    env.update(SITE_DIR=str(site), SITE_BUCKET="b-bucket", DISTRIBUTION_ID="E1")
    result = run_publish(env)
    assert result.returncode == 2
    assert "0123456789" in result.stderr and "make build" in result.stderr
    assert commands(result.stdout) == []
    env["SITE_DIR"] = str(tmp_path / "missing")
    result = run_publish(env)
    assert result.returncode == 2 and "SITE_DIR" in result.stderr


def test_publish_falls_back_to_one_wildcard_invalidation(fake_cli, tmp_path) -> None:
    env, _ = fake_cli
    site = make_site(tmp_path, current_render_version())
    env.update(SITE_DIR=str(site), SITE_BUCKET="b-bucket", DISTRIBUTION_ID="E1",
               MAX_INVALIDATION_PATHS="3")
    result = run_publish(env)
    assert result.returncode == 0, result.stderr
    inval = commands(result.stdout)[-1]
    assert inval[inval.index("--paths") + 1:] == ["/*"]


def run_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INFRA / "deploy.sh")], env=env, capture_output=True,
                          text=True, timeout=60)


def test_deploy_dry_run_first_time_guided_then_not(fake_cli, tmp_path) -> None:
    env, calls = fake_cli
    samconfig = tmp_path / "samconfig.toml"
    env.update(STACK_NAME="micro-test", AWS_REGION="eu-central-1", SAM_CONFIG=str(samconfig),
               LAMBDA_MEMORY_MB="3008", ALLOWED_ORIGINS="https://teach.example.org")
    first = run_deploy(env)
    assert first.returncode == 0, first.stderr
    samconfig.write_text("version = 0.1\n")
    again = run_deploy(env)
    assert again.returncode == 0, again.stderr
    assert not calls.exists(), "DRY_RUN must not run sam or aws"
    guided, update = (commands(r.stdout)[0] for r in (first, again))
    assert guided[:3] == ["sam", "deploy", "--guided"]
    assert update[:2] == ["sam", "deploy"] and "--guided" not in update
    assert "--no-fail-on-empty-changeset" in update
    for cmd in (guided, update):
        assert option(cmd, "--template-file") == str(TEMPLATE)
        assert option(cmd, "--stack-name") == "micro-test"
        assert option(cmd, "--region") == "eu-central-1"
        assert option(cmd, "--config-file") == str(samconfig)
        assert option(cmd, "--capabilities") == "CAPABILITY_IAM"
        overrides = dict(p.split("=", 1) for p in cmd[cmd.index("--parameter-overrides") + 1:]
                         if "=" in p and not p.startswith("--"))
        assert overrides["MemorySize"] == "3008"
        assert overrides["Timeout"] == "30"  # from infra/config
        assert overrides["AllowedOrigins"] == '"https://teach.example.org"'
    template = cfn_yaml.load(str(TEMPLATE))
    assert set(overrides) == set(template["Parameters"])


def test_deploy_names_a_missing_setting(fake_cli, tmp_path) -> None:
    env, _ = fake_cli
    env.update(STACK_NAME="")
    result = run_deploy(env)
    assert result.returncode == 2
    assert "STACK_NAME" in result.stderr


def test_config_file_is_complete_and_placeholder_free() -> None:
    cfg = publish.read_config(INFRA / "config", {})
    assert cfg["STACK_NAME"] and cfg["AWS_REGION"]
    assert cfg["SITE_BUCKET"] == "" and cfg["DISTRIBUTION_ID"] == ""  # from the stack
    assert cfg["SITE_DIR"] == "build/site"
    assert not any("example" in v.lower() or "changeme" in v.lower() for v in cfg.values())
    assert publish.RENDER_CACHE_CONTROL == CACHE_CONTROL


def test_the_bill_is_bounded_at_the_edge(template) -> None:
    """Issue 19: a rate-based WAF rule on the distribution, a budget alarm, access logs with
    retention, a cap on raw downloads, optional signed renders."""
    acl = resources(template, "AWS::WAFv2::WebACL")["WebAcl"]
    assert acl["Condition"] == "IsUsEast1" and acl["Properties"]["Scope"] == "CLOUDFRONT"
    rate = [r for r in acl["Properties"]["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate and rate[0]["Action"] == {"Block": {}}
    assert rate[0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    config = dist_config(template)
    assert config["WebACLId"]["Fn::If"][0] == "IsUsEast1"
    assert config["Logging"]["Bucket"] == {"Fn::GetAtt": ["LogBucket", "DomainName"]}
    logs = resources(template, "AWS::S3::Bucket")["LogBucket"]["Properties"]
    rule = logs["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    assert all(logs["PublicAccessBlockConfiguration"].values())
    budget = resources(template, "AWS::Budgets::Budget")["CostBudget"]
    assert budget["Properties"]["Budget"]["BudgetLimit"]["Amount"] == {"Ref": "MonthlyBudgetUsd"}
    env = resources(template, "AWS::Lambda::Function")["RenderFunction"]["Properties"][
        "Environment"]["Variables"]
    assert env["MICRO_MAX_RAW_SIZE_PX"] == {"Ref": "MaxRawSizePx"}
    assert env["MICRO_RENDER_SIGNING_SECRET_ARN"] == {"Ref": "SigningKeySecretArn"}
