// Package apispec checks the OpenAPI descriptions of the ingest and review
// APIs (docs/api/*.openapi.yaml) against the running services: every
// described operation is called, each request and answer is validated
// against the description with kin-openapi's openapi3filter, and every route
// a service registers must be described.
package apispec
