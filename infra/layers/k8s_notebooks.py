"""Notebooks (issue 21): JupyterHub profiles generated from the GPU pools, users charged to their team.

A profile per GPU pool, named after what a notebook gets there: a whole GPU, a MIG slice (the
pool's ``migProfile``) or a time-sliced share (``timeSlicingReplicas``); plus a CPU-only profile.
Each profile's node selector and tolerations are the pool's Kueue ResourceFlavor's (the pool's node
label and taint), and it requests the extended resource the pool offers, so the notebook counts
against the team's quota and queue like any job of the team.
"""

from __future__ import annotations

import dataclasses

import pulumi

from catalog import conventions as cv
from catalog import pool_nodes
from components.k8s import mlflow
from components.k8s.jupyterhub import HomeVolumes, JupyterHub, JupyterHubArgs, Oidc, Profile
from infra import config
from infra.layers import k8s_teams
from infra.layers.context import CloudLayer
from infra.layers.k8s_context import K8sPlatform

HOME_STORAGE_CLASS = "notebook-home"
"""StorageClass of the notebook home volumes: encrypted with the platform's key."""


def profiles(cfg: config.PlatformConfig) -> list[Profile]:
    """The CPU-only profile first (the default), then one per GPU pool in config order."""
    cpu = cfg.notebooks.cpu_profile
    out = [
        Profile(
            slug="cpu",
            display_name="CPU only",
            description=f"{cpu.cpu:g} CPU, {cpu.memory}, no GPU",
            cpu=cpu.cpu,
            memory=cpu.memory,
        )
    ]
    strategy = pool_nodes.mig_strategy(cfg.cloud, cfg.gpu_operator.mig_strategy)
    flavors = {f.name: f for f in k8s_teams.flavors(cfg)}
    for pool in cfg.gpu_pools:
        gpu = cfg.pool_gpu(pool)
        if pool.mig_profile:
            what, share = f"a {pool.mig_profile} MIG slice of an {gpu.key}", gpu.mig_profiles.get(pool.mig_profile) or 1
        elif pool.time_slicing_replicas:
            what, share = f"a 1/{pool.time_slicing_replicas} time-sliced share of an {gpu.key}", pool.time_slicing_replicas
        else:
            what, share = f"one whole {gpu.key}", 1
        # CPU / memory: the notebook's part of the smallest node the pool may launch, as its GPU share
        # goes, less 20% for the system daemons (at least 1 CPU and 4Gi)
        nodes = cfg.pool_node_types(pool)
        small = min(nodes, key=lambda n: (n.vcpu, n.memory_gib)) if nodes else None
        slots = max(1, small.gpus) * share if small else share
        vcpu = max(1, int(small.vcpu * 0.8 / slots)) if small else 2
        mem_gib = max(4, int(small.memory_gib * 0.8 / slots)) if small else 8
        flavor = flavors[k8s_teams.flavor_name(pool)]
        out.append(
            Profile(
                slug=f"gpu-{pool.name}",
                display_name=f"GPU: {what} ({pool.name})",
                description=f"{what} on pool {pool.name}, {vcpu:g} CPU, {mem_gib}Gi; charged to your team's GPU quota",
                cpu=vcpu,
                memory=f"{mem_gib}Gi",
                pool=pool.name,
                node_selector=dict(flavor.node_labels),
                tolerations=[dict(t) for t in flavor.tolerations],
                resource=k8s_teams.pool_resource(pool, strategy),
            )
        )
    return out


def home_volumes(cloud: CloudLayer) -> tuple[str, HomeVolumes | None]:
    """(StorageClass name, how to create it): ours with the platform key where the cloud offers it, else the existing
    encrypted class the cloud layer names (a cluster you bring), created by nobody here."""
    if cloud.encrypted_volumes is not None:
        volumes = cloud.encrypted_volumes
        return HOME_STORAGE_CLASS, HomeVolumes(provisioner=volumes.provisioner, parameters=dict(volumes.parameters))
    if cloud.encrypted_storage_class is not None:
        return cloud.encrypted_storage_class, None
    raise ValueError(f"notebooks: the {cloud.cloud} layer offers no encrypted volumes (config refuses it)")


def build(cfg: config.PlatformConfig, platform: K8sPlatform) -> JupyterHub:
    cloud = platform.cloud
    teams = platform.teams
    tracking = f"http://{mlflow.RELEASE}.{cv.NS_MLFLOW}.svc.cluster.local:{mlflow.PORT}" if cfg.mlflow.enabled else None
    storage_class, volumes = home_volumes(cloud)
    args = dataclasses.replace(
        jupyterhub_args(cfg, mlflow_tracking_uri=tracking),
        storage_class=storage_class,
        home_volumes=volumes,
        team_namespaces={name: team.namespace_name for name, team in teams.items()},
    )
    hub = JupyterHub(
        "jupyterhub",
        args,
        opts=pulumi.ResourceOptions(provider=cloud.k8s_provider, depends_on=[*platform.waits, *teams.values()]),
    )
    pulumi.export("jupyterhubNamespace", hub.namespace)
    return hub


def jupyterhub_args(cfg: config.PlatformConfig, *, mlflow_tracking_uri: str | None) -> JupyterHubArgs:
    """The hub's arguments from ``notebooks.*`` (requires ``notebooks.oidc``: checked by the config)."""
    nb = cfg.notebooks
    oidc = nb.oidc
    assert oidc is not None and oidc.client_secret is not None  # config._notebook_checks
    return JupyterHubArgs(
        oidc=Oidc(
            client_id=oidc.client_id,
            authorize_url=oidc.authorize_url,
            token_url=oidc.token_url,
            userdata_url=oidc.userdata_url,
            callback_url=oidc.callback_url,
            scope=tuple(oidc.scope),
            username_claim=oidc.username_claim,
            groups_claim=oidc.groups_claim,
        ),
        client_secret=oidc.client_secret.get_secret_value(),
        profiles=profiles(cfg),
        teams={t.name: t.owners for t in cfg.teams},
        users=dict(nb.users),
        admin_users=tuple(nb.admin_users),
        storage_class=HOME_STORAGE_CLASS,
        home_size=f"{nb.home_size_gb}Gi",
        idle_timeout_seconds=nb.idle_timeout_minutes * 60,
        mlflow_tracking_uri=mlflow_tracking_uri,
        mlflow_credentials_secret=mlflow.TEAM_CREDENTIALS_SECRET if cfg.mlflow.enabled and cfg.mlflow.auth else None,
    )
