module github.com/takedown-pipeline/takedown/services/enforcer

go 1.26.8

require github.com/takedown-pipeline/takedown/pkg v0.0.0

replace github.com/takedown-pipeline/takedown/pkg => ../../pkg
