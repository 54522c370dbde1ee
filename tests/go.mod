module github.com/takedown-pipeline/takedown/tests

go 1.26.8

require (
	github.com/takedown-pipeline/takedown/pkg v0.0.0
	github.com/takedown-pipeline/takedown/services/enforcer v0.0.0
	github.com/takedown-pipeline/takedown/services/hasher v0.0.0
	github.com/takedown-pipeline/takedown/services/ingest v0.0.0
	github.com/takedown-pipeline/takedown/services/matcher v0.0.0
	github.com/takedown-pipeline/takedown/services/review v0.0.0
)

replace (
	github.com/takedown-pipeline/takedown/pkg => ../pkg
	github.com/takedown-pipeline/takedown/services/enforcer => ../services/enforcer
	github.com/takedown-pipeline/takedown/services/hasher => ../services/hasher
	github.com/takedown-pipeline/takedown/services/ingest => ../services/ingest
	github.com/takedown-pipeline/takedown/services/matcher => ../services/matcher
	github.com/takedown-pipeline/takedown/services/review => ../services/review
)
