module github.com/affinity-platform/affinity/services/recommendation

go 1.26.0
