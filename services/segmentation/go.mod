module github.com/affinity-platform/affinity/services/segmentation

go 1.26.0
