module github.com/affinity-platform/affinity/deploy/local

go 1.26.0
