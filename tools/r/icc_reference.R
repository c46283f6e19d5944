#!/usr/bin/env Rscript
# Reference ICCs for `alnpredictor analyze reproducibility` (tests/test_analysis_reproducibility.py):
# psych::ICC (Shrout & Fleiss ICC2 = ICC(2,1) two-way random absolute agreement, ICC3 = ICC(3,1) two-way
# mixed consistency; F, df, p and 95% bounds; subjects with every rating only) and the
# Bland-Altman numbers (bias, SD, limits of agreement = bias -/+ 1.96 SD, t-based 95% CI of the bias) of
# each table's first two raters. CI has no R: the test compares with the JSON this writes.
#
# Usage: Rscript tools/r/icc_reference.R tests/fixtures/r/icc_input.json tests/fixtures/r/icc_reference.json
# icc_input.json: {"tables": {"name": {"raters": [...], "ratings": [[subject 1's ratings], ...]}}} (null = missing)
suppressPackageStartupMessages({
  library(jsonlite)
  library(psych)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: icc_reference.R INPUT.json OUT.json")
input <- fromJSON(args[1], simplifyVector = FALSE)

as_matrix <- function(table) {
  rows <- lapply(table$ratings, function(r) sapply(r, function(v) if (is.null(v)) NA_real_ else as.numeric(v)))
  m <- do.call(rbind, rows)
  colnames(m) <- unlist(table$raters)
  m
}

row_of <- function(res, type) {
  r <- res$results[res$results$type == type, ]
  list(ICC = r$ICC, F = r$F, df1 = r$df1, df2 = r$df2, p = r$p, lower = r[["lower bound"]],
       upper = r[["upper bound"]])
}

out <- lapply(input$tables, function(table) {
  m <- as_matrix(table)
  complete <- m[complete.cases(m), , drop = FALSE]  # subjects with every rating (psych's missing = TRUE
  res <- suppressWarnings(suppressMessages(ICC(complete, alpha = 0.05, lmer = FALSE)))  # needs lmer otherwise)
  pair <- m[complete.cases(m[, 1:2]), 1:2, drop = FALSE]  # Bland-Altman: the pair's own complete readings
  d <- pair[, 2] - pair[, 1]
  n <- length(d)
  bias <- mean(d)
  s <- sd(d)
  half <- qt(0.975, n - 1) * s / sqrt(n)
  list(n_subjects = nrow(complete), n_raters = ncol(m),
       ICC2 = row_of(res, "ICC2"), ICC3 = row_of(res, "ICC3"),
       bland_altman = list(n = n, bias = bias, sd = s, loa_low = bias - 1.96 * s, loa_high = bias + 1.96 * s,
                           bias_ci_low = bias - half, bias_ci_high = bias + half))
})
result <- list(r_version = R.version.string, psych_version = as.character(packageVersion("psych")), tables = out)
writeLines(toJSON(result, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), args[2])
