// Regenerates reference.csv: npm install gcoord@1.0.7 && node make_reference.js > reference.csv
// gcoord is an independent JavaScript implementation of the GCJ-02 and BD-09 conversions;
// tests/unit/test_api_crs.c checks parkfeed-api's C code against its output.
const gcoord = require('gcoord');
const pts = [
 ['沁阳市', 112.950, 35.088], ['孟州市', 112.791, 34.907], ['温县', 113.081, 34.941], ['博爱县', 113.065, 35.171],
 ['武陟县', 113.401, 35.099], ['修武县', 113.447, 35.223], ['解放区', 113.226, 35.240], ['山阳区', 113.255, 35.215],
 ['马村区', 113.322, 35.256], ['中站区', 113.182, 35.237], ['高新区', 113.290, 35.262], ['焦作站', 113.2418, 35.2159],
 ['Beijing', 116.397128, 39.916527], ['Shanghai', 121.473701, 31.230416], ['Guangzhou', 113.264385, 23.129112],
 ['Urumqi', 87.616848, 43.825592], ['Harbin', 126.642464, 45.756967], ['Lhasa', 91.117212, 29.646923],
 ['Haikou', 110.19989, 20.04422], ['Kunming', 102.833, 24.88], ['Chengdu', 104.065735, 30.659462],
 ['Tokyo', 139.691706, 35.689487], ['London', -0.127758, 51.507351], ['Sydney', 151.209296, -33.86882],
 ['Moscow', 37.6173, 55.755826],
];
console.log('# WGS-84 -> GCJ-02 -> BD-09 reference pairs, computed with the npm package gcoord ' + require('gcoord/package.json').version);
console.log('# (an independent JavaScript implementation: gcoord.transform(p, WGS84, GCJ02) and (p, GCJ02, BD09)).');
console.log('# Points outside its China rectangle (lon 72.004..137.8347, lat 0.8293..55.8271) pass through.');
console.log('name,wgs_lon,wgs_lat,gcj_lon,gcj_lat,bd_lon,bd_lat');
for (const [n, lon, lat] of pts) {
  const g = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
  const b = gcoord.transform(g, gcoord.GCJ02, gcoord.BD09);
  console.log([n, lon, lat, g[0].toFixed(10), g[1].toFixed(10), b[0].toFixed(10), b[1].toFixed(10)].join(','));
}
