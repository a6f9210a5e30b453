# pipelines/loss.gp — training and validation loss against step, as a PNG.
#   gnuplot -e "train='train.tsv'; val='val.tsv'; out='loss.png'; name='...'" loss.gp
# train.tsv and val.tsv: "step<TAB>loss" lines; pass val='' when there is no validation loss.
set terminal pngcairo size 800,500 noenhanced
set output out
set title name
set xlabel "training step"
set ylabel "loss"
set grid
set key top right
set logscale y
if (val eq '') {
  plot train using 1:2 with lines lw 1 lc rgb "#4477aa" title "train loss"
} else {
  plot train using 1:2 with lines lw 1 lc rgb "#4477aa" title "train loss", \
       val using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb "#cc6677" title "validation loss"
}
