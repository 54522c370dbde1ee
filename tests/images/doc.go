// Package images checks the container images that `make images` builds
// (scripts/images.sh, docs/images.md) in buildah's local storage: each
// image's binary runs under `buildah run` as the image's own user, its
// configuration names a numeric non-root user and the agreed entrypoint,
// its file system has no shell and no package manager and nothing the
// user could write outside /tmp, and its size is measured.
//
// The test runs only when TAKEDOWN_TEST_IMAGES is set (make images-check):
// it needs root, buildah and the built images, which `make test` does not
// make. Once asked for, a missing tool or image fails it; it never skips.
package images
