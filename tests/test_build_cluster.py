"""A build that scales out: the plan as a manifest of shards, rendered on a Dask cluster (a
`LocalCluster` of two worker processes) and written to a directory or to S3 (moto's
ThreadedMotoServer on loopback, boto3 over HTTP), resumable in both. The local process-pool
build (`quick_site`) is the reference: same manifest, same keys, same bytes."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from distributed import LocalCluster
from moto.server import ThreadedMotoServer
from PIL import Image
from site_fixtures import quick_site  # noqa: F401

from micro.cli import main
from micro.core.catalog import default_catalog
from micro.core.requests import parse_path
from micro.site.build import BuildConfig, BuildError, build, plan_manifest
from micro.site.shards import (
    DirectorySink,
    ShardError,
    _scene_key,
    render_shard,
)

Site = tuple[Path, Any]
BUCKET = "micro-site"
IMAGE_EXTS = {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An S3 server on loopback; its endpoint and fake credentials are in the environment
    before the cluster starts, so the worker processes inherit them."""
    port = _free_port()
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-creds"))
        mp.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            client = boto3.session.Session().client("s3")
            client.create_bucket(Bucket=BUCKET)
            yield client
        finally:
            server.stop()


@pytest.fixture(scope="module")
def cluster(s3: Any) -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as c:
        yield c


def _s3_objects(client: Any, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                  Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) + 1:]] = body
    return out


# --------------------------------------------------------------------------- the manifest

def test_shard_manifest_is_deterministic_and_covers_the_plan_once() -> None:
    cfg = BuildConfig(profile="quick")
    first = plan_manifest(cfg)
    again = json.loads(json.dumps(plan_manifest(cfg)))
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    paths = [p for shard in first["shards"] for p in shard]
    assert len(paths) == len(set(paths)) == first["images"] > 20
    cat = default_catalog()
    for shard in first["shards"]:
        # a shard is one scene: one field of one slide, or one phantom
        assert len({_scene_key(parse_path(p, cat)) for p in shard}) == 1, shard
    assert all(p.startswith(f"r/{first['version']}/") for p in paths)


def test_cli_plan_writes_the_manifest_and_renders_nothing(tmp_path: Path) -> None:
    out = tmp_path / "site"
    res = CliRunner().invoke(main, ["build", "--profile", "quick", "--out", str(out),
                                    "--plan", str(tmp_path / "shards.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "shards.json").read_text())
    assert doc == plan_manifest(BuildConfig(profile="quick"))
    assert not out.exists()


def test_bad_out_and_scheduler_are_named() -> None:
    res = CliRunner().invoke(main, ["build", "--profile", "quick", "--out", "ftp://x/y"])
    assert res.exit_code != 0 and "out:" in res.output and "s3://" in res.output
    res = CliRunner().invoke(main, ["build", "--profile", "quick", "--scheduler", "nohost"])
    assert res.exit_code != 0 and "scheduler" in res.output and "tcp://" in res.output
    with pytest.raises(BuildError, match="bucket"):
        build(BuildConfig(profile="quick", out="s3://No_Such_Bucket/x"))


def test_a_worker_with_other_code_or_catalog_refuses_the_shard(tmp_path: Path) -> None:
    shard = plan_manifest(BuildConfig(profile="quick"))["shards"][-1]
    with pytest.raises(ShardError, match="install the same micro"):
        render_shard(shard, DirectorySink(tmp_path), version="0000000000")
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- Dask

def test_dask_build_matches_the_local_build(cluster: LocalCluster, quick_site: Site,  # noqa: F811
                                            tmp_path: Path) -> None:
    local_out, _ = quick_site
    out = tmp_path / "dask"
    result = build(BuildConfig(out=out, profile="quick", scheduler=cluster.scheduler_address))
    assert result.reused == 0 and result.rendered == len(
        json.loads((local_out / "manifest.json").read_text())["paths"])
    assert "2 workers" in result.executor
    # the renders ran in the two worker processes, not here
    pids = {int(w.rsplit(":", 1)[1]) for w in result.workers}
    assert len(pids) == 2 and os.getpid() not in pids
    mine, theirs = _files(out), _files(local_out)
    assert mine["manifest.json"] == theirs["manifest.json"]
    assert sorted(mine) == sorted(theirs)
    renders = [k for k in theirs if k.startswith("r/")]
    assert len(renders) >= 2 * result.rendered - 5  # an image and its info per view
    for key in renders:
        assert mine[key] == theirs[key], key
        ext = Path(key).suffix
        if ext in IMAGE_EXTS:
            with Image.open(io.BytesIO(mine[key])) as im:
                assert im.format == IMAGE_EXTS[ext] and min(im.size) >= 64, key
        else:  # the info document the API serves, of the instrument the path names
            assert json.loads(mine[key])["instrument"] in key.split("/"), key


def test_s3_output_matches_the_directory_and_resumes(cluster: LocalCluster, s3: Any,
                                                     quick_site: Site) -> None:  # noqa: F811
    local_out, local_result = quick_site
    url = f"s3://{BUCKET}/site"
    first = build(BuildConfig(out=url, profile="quick", scheduler=cluster.scheduler_address))
    assert first.rendered == local_result.rendered + local_result.reused
    objects, files = _s3_objects(s3, "site"), _files(local_out)
    assert sorted(objects) == sorted(files)
    for key, data in files.items():
        assert objects[key] == data, key
    assert first.site_bytes == sum(len(b) for b in files.values())
    image = next(k for k in files if k.startswith("r/") and k.endswith(".png"))
    head = s3.head_object(Bucket=BUCKET, Key=f"site/{image}")
    assert head["ContentType"] == "image/png" and "immutable" in head["CacheControl"]
    page = s3.head_object(Bucket=BUCKET, Key="site/lab.html")
    assert page["ContentType"].startswith("text/html") and "immutable" not in page["CacheControl"]
    # no expiry tag: the bucket's lifecycle rule for on-demand renders must not delete a build
    assert s3.get_object_tagging(Bucket=BUCKET, Key=f"site/{image}")["TagSet"] == []

    # resumed: nothing new; then one lost image is rendered again, to the same bytes
    again = build(BuildConfig(out=url, profile="quick", jobs=1))
    assert again.rendered == 0 and again.reused == first.rendered
    s3.delete_object(Bucket=BUCKET, Key=f"site/{image}")
    third = build(BuildConfig(out=url, profile="quick", jobs=1))
    assert third.rendered == 1
    assert _s3_objects(s3, "site")[image] == files[image]


def test_a_resumed_directory_build_renders_only_what_is_missing(quick_site: Site,  # noqa: F811
                                                                tmp_path: Path) -> None:
    local_out, _ = quick_site
    out = tmp_path / "site"
    shutil.copytree(local_out, out)
    before = _files(out)
    manifest = plan_manifest(BuildConfig(profile="quick"))
    # a view from each of the two smallest shards: one loses its image, one its info
    a, b = sorted(manifest["shards"], key=len)[:2]
    (out / a[0]).unlink()
    (out / (b[0].rsplit(".", 1)[0] + ".json")).unlink()
    result = build(BuildConfig(out=out, profile="quick", jobs=1))
    assert result.rendered == 2 and result.shards == 2
    assert _files(out) == before
    assert build(BuildConfig(out=out, profile="quick", jobs=1)).rendered == 0
