// Package chart checks the Helm chart of deployments/helm/takedown with the
// real tools an operator's pipeline runs: helm lint and template, kubeconform
// against the Kubernetes and CRD schemas, and a real kube-apiserver with
// etcd (scripts/k8s-tools.sh builds them all from the package registries and
// caches them) that validates every rendered object and takes a helm
// install, upgrade and uninstall. `make chart-check` runs it.
package chart
