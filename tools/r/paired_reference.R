#!/usr/bin/env Rscript
# Reference numbers for `alnpredictor analyze paired` (tests/test_analysis_paired.py), computed with R's
# own tests so that CI (which has no R) can check the Python results against them:
#   wilcox.test(post, pre, paired = TRUE)  per feature, all patients and within each response group
#   wilcox.test(x, y)                      relative changes, first group level vs second
#   p.adjust(p, "BH")                      per family of features
# R 4.x defaults throughout (exact = NULL, correct = TRUE, digits.rank = Inf).
#
# Usage: Rscript tools/r/paired_reference.R PRE.csv POST.csv ID_COL GROUP_COL OUT.json
# e.g.   Rscript tools/r/paired_reference.R tests/fixtures/r/paired_pre.csv tests/fixtures/r/paired_post.csv \
#            patient pCR tests/fixtures/r/paired_reference.json
suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 5) stop("usage: paired_reference.R PRE.csv POST.csv ID_COL GROUP_COL OUT.json")
pre <- read.csv(args[1], check.names = FALSE, stringsAsFactors = FALSE)
post <- read.csv(args[2], check.names = FALSE, stringsAsFactors = FALSE)
id <- args[3]
group_col <- args[4]
post <- post[match(pre[[id]], post[[id]]), ]
features <- setdiff(names(pre)[sapply(pre, is.numeric)], c(id, group_col))
group <- factor(pre[[group_col]])  # levels: the sorted values
levels_ <- levels(group)

num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NA else unname(x)
method_of <- function(test) {  # NA when R gives no p-value (no change / all values tied)
  if (is.na(test$p.value)) NA else if (grepl("exact", test$method)) "exact" else "normal"
}

signed_rank <- function(rows) {
  out <- lapply(features, function(f) {
    x <- post[[f]][rows]
    y <- pre[[f]][rows]
    ok <- complete.cases(x, y)
    d <- x[ok] - y[ok]
    test <- suppressWarnings(wilcox.test(x, y, paired = TRUE))
    list(feature = f, n = sum(ok), n_zero = sum(d == 0), V = num(test$statistic), p = num(test$p.value),
         method = method_of(test))
  })
  q <- p.adjust(sapply(out, function(r) r$p), "BH")
  for (i in seq_along(out)) out[[i]]$q <- num(q[i])
  out
}

relative <- function(f) {
  r <- (post[[f]] - pre[[f]]) / abs(pre[[f]])
  r[!is.na(pre[[f]]) & pre[[f]] == 0] <- NA
  r
}

between <- lapply(features, function(f) {
  r <- relative(f)
  x <- r[group == levels_[1]]
  y <- r[group == levels_[2]]
  test <- suppressWarnings(wilcox.test(x, y))
  list(feature = f, n_x = sum(!is.na(x)), n_y = sum(!is.na(y)), W = num(test$statistic), p = num(test$p.value),
       method = method_of(test))
})
qb <- p.adjust(sapply(between, function(r) r$p), "BH")
for (i in seq_along(between)) between[[i]]$q <- num(qb[i])

within <- setNames(lapply(levels_, function(lv) signed_rank(which(group == lv))), levels_)
result <- list(
  r_version = R.version.string,
  inputs = list(pre = basename(args[1]), post = basename(args[2]), id = id, group = group_col),
  levels = levels_,
  overall = signed_rank(seq_len(nrow(pre))),
  within = within,
  between = between
)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), args[5])
