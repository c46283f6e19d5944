#!/usr/bin/env Rscript
# Reference numbers for the model code, as R users know them (issue 15 item 4).
#
# Run from the repository root (R 4.2, rms 6.5, e1071 1.7, jsonlite; Debian: r-base-core r-cran-rms
# r-cran-e1071 r-cran-jsonlite):
#     Rscript tools/r/models_reference.R [SHARED_DIR]
# SHARED_DIR defaults to $ALNPREDICTOR_SHARED or ../shared. Writes tests/fixtures/r/models_*.json,
# which tests/test_r_reference.py compares against (CI has no R; the outputs are committed).
#
#   models_pretty.json       base::pretty() for many ranges (the nomogram's axis rule)
#   models_nomogram.json     rms::lrm + rms::nomogram on Rotterdam (survival package data):
#                            signature score + age + tumour size (3 levels) + grade (2/3);
#                            points of 5 patients, total points and probability
#   models_svm.json          e1071::svm decision values (scale = TRUE, radial, cost 1, gamma 1/p)
#                            on 10 EVC1 features (rows with class 0 first, and in file order)
#   models_calibration.json  rms::val.prob (Intercept, Slope, Brier, Emax, E90, Eavg), the
#                            calibration-in-the-large and the Hosmer-Lemeshow test: the nomogram
#                            validated on the next 600 Rotterdam patients, and the published
#                            ultrasound signature on EVC1 (each also with tied, rounded risks)
#
# ResourceSelection is not packaged for Debian, so hoslem() below is ResourceSelection::hoslem.test
# as of version 0.3-6 (2023): groups cut at unique(quantile(p, 0:g/g)) (type 7), chi-square summed
# over both outcome columns, df = number of groups formed - 2.

suppressPackageStartupMessages({
  library(rms)
  library(e1071)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args)) args[1] else Sys.getenv("ALNPREDICTOR_SHARED", "../shared")
out_dir <- file.path("tests", "fixtures", "r")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- list(R = R.version.string, rms = as.character(packageVersion("rms")),
                 e1071 = as.character(packageVersion("e1071")))

write_fixture <- function(x, name) {
  x$generated_by <- "tools/r/models_reference.R"
  x$versions <- versions
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"),
             file.path(out_dir, name))
}

# --- pretty() ---------------------------------------------------------------------------------
set.seed(15)
ranges <- list(c(0, 1), c(28, 83), c(-1.6, 1.0), c(0, 0), c(5, 5), c(-3.7e-5, 2.2e-4), c(1e6, 1e6 + 3),
               c(-250, -3), c(0.1, 0.30000000000000004), c(17, 17.000000001), c(-1e-300, 1e-300),
               c(1, 1e9), c(-0.5, 0.5), c(2, 3), c(0, 11))
for (i in 1:60) {
  mag <- 10^runif(1, -6, 6)
  a <- rnorm(1) * mag
  ranges[[length(ranges) + 1]] <- sort(c(a, a + abs(rnorm(1)) * mag * 10^runif(1, -3, 1)))
}
pretty_cases <- list()
for (r in ranges) for (n in c(5, 10)) {
  pretty_cases[[length(pretty_cases) + 1]] <- list(lo = r[1], hi = r[2], n = n, values = pretty(r, n = n))
}
write_fixture(list(cases = pretty_cases), "models_pretty.json")

# --- nomogram -----------------------------------------------------------------------------------
rot <- read.csv(file.path(shared, "data", "survival-breast", "rotterdam.csv"))
d <- rot[rot$pid <= 400, c("pid", "age", "size", "grade", "nodes", "pgr", "er")]
d$node_positive <- as.integer(d$nodes > 0)
# A fixed linear score standing in for an imaging signature (log-odds scale).
sig_coef <- c("(Intercept)" = 1.0, pgr = -0.001, er = -0.0005)
d$signature <- sig_coef[1] + sig_coef["pgr"] * d$pgr + sig_coef["er"] * d$er
size_levels <- c("<=20", "20-50", ">50")
d$size <- factor(d$size, levels = size_levels)
dd <- datadist(d[, c("signature", "age", "size", "grade")])
options(datadist = "dd")
fit <- lrm(node_positive ~ signature + age + size + grade, data = d)
nom <- nomogram(fit, fun = plogis, lp = TRUE)
info <- attr(nom, "info")
preds <- c("signature", "age", "size", "grade")
axes <- lapply(preds, function(v) list(values = nom[[v]][[v]], points = unname(nom[[v]]$points)))
names(axes) <- preds
# total points -> lp: linear; read it off the lp axis rms draws (x = points, x.real = lp)
lp_line <- unname(coef(lm(nom$lp$x.real ~ nom$lp$x)))
points_of <- function(v, value) {
  ax <- nom[[v]]
  if (is.character(ax[[v]])) return(unname(ax$points[match(as.character(value), ax[[v]])]))
  xs <- as.numeric(ax[[v]])
  unname(coef(lm(ax$points ~ xs)) %*% c(1, value))  # effects are linear in the value
}
pick <- c(which.min(d$age), which.max(d$signature), which(d$size == ">50")[1], 10, 200)
patients <- lapply(pick, function(i) {
  pts <- sapply(preds, function(v) points_of(v, d[i, v]))
  total <- sum(pts)
  lp <- unname(lp_line[1] + lp_line[2] * total)
  list(pid = d$pid[i], values = list(signature = d$signature[i], age = d$age[i],
                                      size = as.character(d$size[i]), grade = d$grade[i], pgr = d$pgr[i],
                                      er = d$er[i]),
       points = as.list(pts), total_points = total, linear_predictor = lp, probability = plogis(lp),
       predicted = unname(predict(fit, d[i, ], type = "fitted")))
})
# the same model validated on the next 600 Rotterdam patients (for the calibration fixture)
v <- rot[rot$pid > 400 & rot$pid <= 1000, c("pid", "age", "size", "grade", "nodes", "pgr", "er")]
v$signature <- sig_coef[1] + sig_coef["pgr"] * v$pgr + sig_coef["er"] * v$er
v$size <- factor(v$size, levels = size_levels)
validation <- list(pid = v$pid, y = as.integer(v$nodes > 0), p = unname(predict(fit, v, type = "fitted")))
write_fixture(list(
  data = "survival-breast/rotterdam.csv, pid <= 400; outcome nodes > 0",
  signature_coefficients = as.list(sig_coef), size_levels = size_levels,
  coefficients = as.list(coef(fit)), n = nrow(d), sc = info$sc, maxscale = info$maxscale,
  axes = axes, patients = patients), "models_nomogram.json")

# --- e1071 SVM ----------------------------------------------------------------------------------
# libsvm's solver visits the classes in the order it meets them: e1071 in order of first appearance,
# scikit-learn's libsvm in ascending label order. With class 0 first the two solve in the same order
# and agree to 1e-14; with class 1 first they stop at different points within libsvm's tolerance
# (1e-3) — both tables are kept.
evc <- read.csv(file.path(shared, "data", "us-dlr-evc1", "EVC1.csv"))
sig <- read.csv(file.path(shared, "data", "us-dlr-evc1", "published_signature.csv"))
svm_features <- sig$feature[1:10]
e1071_fit <- function(rows) {
  x <- as.matrix(evc[rows, svm_features])
  y <- factor(evc$ALN_status[rows])
  sv <- svm(x, y, kernel = "radial", cost = 1, gamma = 1 / ncol(x), scale = TRUE)
  dv <- attr(predict(sv, x, decision.values = TRUE), "decision.values")
  orientation <- colnames(dv)[1]
  list(ids = evc$id[rows], r_orientation = orientation,
       decision_values = unname(if (orientation == "1/0") dv[, 1] else -dv[, 1]),  # positive = class 1
       gamma = sv$gamma, cost = sv$cost, n_sv = sv$tot.nSV,
       rho = if (orientation == "1/0") sv$rho else -sv$rho,
       center = unname(sv$x.scale$`scaled:center`), scale = unname(sv$x.scale$`scaled:scale`))
}
write_fixture(list(
  data = "us-dlr-evc1/EVC1.csv, all rows; first 10 features of published_signature.csv",
  features = svm_features,
  call = "svm(x, factor(ALN_status), kernel='radial', cost=1, gamma=1/ncol(x), scale=TRUE)",
  class0_first = e1071_fit(order(evc$ALN_status)),  # stable: file order within each class
  file_order = e1071_fit(seq_len(nrow(evc)))), "models_svm.json")

# --- calibration --------------------------------------------------------------------------------
hoslem <- function(y, p, g = 10) {
  qq <- unique(quantile(p, probs = seq(0, 1, 1 / g)))
  cutp <- cut(p, breaks = qq, include.lowest = TRUE)
  observed <- xtabs(cbind(y0 = 1 - y, y1 = y) ~ cutp)
  expected <- xtabs(cbind(yhat0 = 1 - p, yhat1 = p) ~ cutp)
  chisq <- sum((observed - expected)^2 / expected)
  G <- length(unique(cutp))
  list(statistic = chisq, df = G - 2, p_value = 1 - pchisq(chisq, G - 2), groups = G)
}
calib <- function(y, p) {
  vp <- val.prob(p, y, pl = FALSE)
  lg <- qlogis(p)
  citl <- unname(coef(glm(y ~ 1, offset = lg, family = binomial))[1])
  list(val_prob = as.list(vp[c("Intercept", "Slope", "Brier", "Emax", "E90", "Eavg")]),
       calibration_in_the_large = citl, hosmer_lemeshow = hoslem(y, p, 10))
}
rv <- calib(validation$y, validation$p)
rv_tied <- calib(validation$y, round(validation$p, 1))
b <- setNames(sig$coefficient, sig$feature)
lp <- as.vector(as.matrix(evc[, sig$feature]) %*% b)
yv <- evc$ALN_status
p <- plogis(lp)
p_tied <- round(p, 1)
p_tied <- pmin(pmax(p_tied, 0.05), 0.95)
write_fixture(list(
  rotterdam = c(list(data = paste("survival-breast/rotterdam.csv pid 401-1000 (outcome nodes > 0), p from the",
                                  "models_nomogram.json lrm fit (pid <= 400)"), y = validation$y, p = validation$p),
                rv),
  rotterdam_tied = c(list(rule = "the same p rounded to 0.1 (tied risks: fewer Hosmer-Lemeshow groups)"), rv_tied),
  evc1 = c(list(data = paste("us-dlr-evc1/EVC1.csv: p = plogis(x %*% published_signature coefficients),",
                             "outcome ALN_status"), n = length(yv), linear_predictor_head = head(lp, 5)),
           calib(yv, p)),
  evc1_tied = c(list(rule = "the EVC1 p rounded to 0.1, clipped to [0.05, 0.95]"), calib(yv, p_tied))),
  "models_calibration.json")
cat("wrote", file.path(out_dir, "models_*.json"), "\n")
