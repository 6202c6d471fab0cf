module github.com/affinity-platform/affinity/proto

go 1.26.0
