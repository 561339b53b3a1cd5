#!/bin/sh
# Build one of the platform's images: docker/build.sh runtime|mlflow TAG
#
# Environment:
#   ENGINE            podman or docker (default: podman when installed)
#   VARIANT           runtime only: cpu (default) or cuda
#   BASE              base image; empty keeps the Dockerfile's default (python:3.11-slim-bookworm);
#                     "local" makes one with debootstrap and builds with `podman build --isolation chroot`
#                     (machines that reach a Debian mirror and PyPI but no container registry)
#   TORCH_INDEX       runtime only: index of the torch wheel (default: the variant's, see runtime.Dockerfile)
#   WHEELS            folder of wheels mounted into the build and searched for torch besides the index
#   CA_BUNDLE         CA certificates pip trusts inside the build, passed as the build secret `pip-ca` (nothing of
#                     it stays in the image); BASE=local defaults to the host's, for networks that reach PyPI
#                     through a TLS-inspecting proxy
#   LOCAL_BASE_IMAGE  name of the debootstrap base (default localhost/debian-python3:bookworm)
set -eu

target=${1:?usage: docker/build.sh runtime|mlflow TAG}
tag=${2:?usage: docker/build.sh runtime|mlflow TAG}
root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile="$root/docker/$target.Dockerfile"
[ -f "$dockerfile" ] || { echo "no $dockerfile" >&2; exit 2; }

engine=${ENGINE:-}
if [ -z "$engine" ]; then
    if command -v podman >/dev/null 2>&1; then engine=podman; else engine=docker; fi
fi
local_base=${LOCAL_BASE_IMAGE:-localhost/debian-python3:bookworm}

set -- build --file "$dockerfile" --tag "$tag"
if [ "${BASE:-}" = local ]; then
    [ "$engine" = podman ] || { echo "BASE=local needs podman" >&2; exit 2; }
    if ! podman image exists "$local_base"; then
        command -v debootstrap >/dev/null 2>&1 || {
            echo "BASE=local needs debootstrap and podman: apt-get install -y podman debootstrap" >&2
            exit 2
        }
        rootfs=$(mktemp -d)
        trap 'rm -rf "$rootfs"' EXIT
        # minbase plus the interpreter (bookworm's python3 is 3.11, like the real base) and CA certificates
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | podman import - "$local_base"
    fi
    set -- "$@" --isolation chroot --build-arg "BASE=$local_base"
    [ -n "${CA_BUNDLE+set}" ] || [ ! -f /etc/ssl/certs/ca-certificates.crt ] || CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
elif [ -n "${BASE:-}" ]; then
    set -- "$@" --build-arg "BASE=$BASE"
fi
if [ "$target" = runtime ]; then
    set -- "$@" --build-arg "VARIANT=${VARIANT:-cpu}"
    [ -z "${TORCH_INDEX:-}" ] || set -- "$@" --build-arg "TORCH_INDEX=$TORCH_INDEX"
    if [ -n "${WHEELS:-}" ]; then
        [ "$engine" = podman ] || { echo "WHEELS needs podman (build-time volumes)" >&2; exit 2; }
        set -- "$@" --volume "$WHEELS:/wheels:ro" --build-arg "TORCH_FIND_LINKS=/wheels"
    fi
fi
[ -z "${CA_BUNDLE:-}" ] || set -- "$@" --secret "id=pip-ca,src=$CA_BUNDLE"
"$engine" "$@" "$root"
