module github.com/affinity-platform/affinity/services/referral

go 1.26.0
