module github.com/affinity-platform/affinity/pkg

go 1.26.0
