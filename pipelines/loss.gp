# pipelines/loss.gp — training and validation loss against step, as a PNG.
#   gnuplot -e "train='train.tsv'; val='val.tsv'; l1='l1.tsv'; out='loss.png'; name='...'" loss.gp
# "step<TAB>value" lines: the training loss, the validation loss and the training L1 term (ACT's
# loss is L1 + kl_weight * KL); pass '' for a file that has no lines.
set terminal pngcairo size 800,500 noenhanced
set output out
set title name
set xlabel "training step"
set ylabel "loss"
set grid
set key top right
set logscale y
t = sprintf("'%s' using 1:2 with lines lw 1 lc rgb '#4477aa' title 'train loss'", train)
if (l1 ne '') { t = t . sprintf(", '%s' using 1:2 with lines lw 1 dt 2 lc rgb '#999933' title 'train L1'", l1) }
if (val ne '') { t = t . sprintf(", '%s' using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#cc6677' title 'validation loss'", val) }
eval "plot " . t
