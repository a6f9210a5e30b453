# pipelines/success.gp — evaluation success rate (Wilson 95% interval) against training step.
#   gnuplot -e "in='success.tsv'; out='success.png'; name='...'" success.gp
# success.tsv: "step<TAB>rate<TAB>lo<TAB>hi<TAB>episodes" lines.
set terminal pngcairo size 800,500 noenhanced
set output out
set title name
set xlabel "training step"
set ylabel "success rate"
set yrange [-0.02:1.02]
set xrange [0:*]
set offsets 0, graph 0.05, 0, 0
set grid
set key top left
plot in using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#228833" title "success (95% Wilson interval)"
