module github.com/affinity-platform/affinity/services/segmentation

go 1.26.0

require github.com/google/cel-go v0.28.0 // indirect
