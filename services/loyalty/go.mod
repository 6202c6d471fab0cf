module github.com/affinity-platform/affinity/services/loyalty

go 1.26.0
