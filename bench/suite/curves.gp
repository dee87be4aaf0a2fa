# bench/run's plots: one line per system from a data file of index blocks, each block a quoted
# title line then "x y label" rows (report.py writes them).
#   gnuplot -e "datafile='d'; outfile='o.png'; plottitle='t'; xlab='x'; ylab='y'; nsets=3; \
#               logy=1; logx=0; labels=1; xtic=0" bench/suite/curves.gp
set terminal pngcairo size 960,600 font "sans,10" noenhanced
set output outfile
set title plottitle
set xlabel xlab
set ylabel ylab
set grid
set key outside right top
set datafile missing "?"
if (logy) { set logscale y }
if (logx) { set logscale x }
if (exists("xtic") && xtic > 0) { set xtics xtic }
if (!exists("xmin")) xmin = 0
if (!logx) { set xrange [xmin:*] }
set offsets 0, graph 0.05, graph 0.05, graph 0.05
if (!exists("labels")) labels = 1
if (labels) {
  plot for [i=0:nsets-1] datafile index i using 1:2 with linespoints lw 2 pt 7 ps 1 \
         title columnheader(1), \
       for [i=0:nsets-1] datafile index i using 1:2:3 every ::1 with labels offset 0.8,0.6 \
         font ",8" notitle
} else {
  plot for [i=0:nsets-1] datafile index i using 1:2 with linespoints lw 2 pt 7 ps 1 \
         title columnheader(1)
}
