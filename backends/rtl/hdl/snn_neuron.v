// snn_neuron: the QGraph integer neuron step for one neuron (combinational), exactly as bitsim's definition.
//
//   xs    = x << ISH
//   i     = clamp_i(decay(i, alpha) + xs)          CUBA (ADD_THEN_DECAY: clamp_i(decay(i + xs, alpha)))
//   v     = clamp_v(decay(v, beta) + drive + bias) drive = i (CUBA) or xs
//   s     = v > theta (CMP_GE: >=); MULTI: min(v div theta, CAP) where it fires
//   reset and its timing as Semantics (immediate / delayed / snntorch_immediate), on integers
//   decay(y, m) = round(y*m / 2^FB): ROUND 0 toward zero, 1 floor, 2 nearest (half up)
//   clamp: OV* 0 saturate to +-(2^(B-1)-1), 1 two's-complement wrap, 2 wrap_loihi (one correction by 2^B)
//
// Every operand and result is a W-bit signed value; W comes from the range proof of the QGraph, so no
// intermediate overflows. r_prev is the previous step's spike output (delayed reset). The sat_* outputs flag a
// clamp that changed its value (a saturation or wrap event) in this step.
`default_nettype none
module snn_neuron #(
    parameter W = 48,
    parameter FB = 12,
    parameter IB = 24,
    parameter VB = 24,
    parameter CUBA = 0,
    parameter SPIKING = 1,
    parameter ADD_THEN_DECAY = 0,
    parameter ROUND = 0,
    parameter OVI = 0,
    parameter OVV = 0,
    parameter CMP_GE = 0,
    parameter RESET = 1,          // 0 none, 1 zero, 2 subtract
    parameter TIMING = 0,         // 0 immediate, 1 delayed, 2 snntorch_immediate
    parameter DZ_STATE = 1,       // delayed reset to zero: 1 zeroes the carried state, 0 the whole new value
    parameter MULTI = 0,
    parameter CAP = 1,
    parameter CW = 1,             // width of a spike output (holds CAP)
    parameter ISH = 0
) (
    input  wire signed [W-1:0] x,
    input  wire signed [W-1:0] v_old,
    input  wire signed [W-1:0] i_old,
    input  wire        [CW-1:0] r_prev,
    input  wire signed [W-1:0] alpha,
    input  wire signed [W-1:0] beta,
    input  wire signed [W-1:0] theta,
    input  wire signed [W-1:0] v_reset,
    input  wire signed [W-1:0] bias,
    output reg  signed [W-1:0] v_new,
    output reg  signed [W-1:0] i_new,
    output reg         [CW-1:0] s,
    output reg                  sat_i,
    output reg                  sat_v
);
    function signed [W-1:0] decay;
        input signed [W-1:0] y;
        input signed [W-1:0] m;
        reg signed [W-1:0] p;
        reg signed [W-1:0] mag;
        begin
            p = y * m;
            if (ROUND == 1) decay = p >>> FB;
            else if (ROUND == 2) decay = (p + (1 <<< (FB - 1))) >>> FB;
            else begin
                mag = (p < 0 ? -p : p) >>> FB;
                decay = p < 0 ? -mag : mag;
            end
        end
    endfunction

    // clamp y into a B-bit register under policy OV (see the header)
    function signed [W-1:0] clamp;
        input signed [W-1:0] y;
        input integer B;
        input integer OV;
        reg signed [W-1:0] half, full;
        begin
            half = 1;
            half = half <<< (B - 1);
            full = half <<< 1;
            if (OV == 0) clamp = (y > half - 1) ? half - 1 : ((y < 1 - half) ? 1 - half : y);
            else if (OV == 1) clamp = ((y + half) & (full - 1)) - half;
            else clamp = (y > half) ? y - full : ((y <= -half) ? y + full : y);
        end
    endfunction

    function [CW-1:0] fire;
        input signed [W-1:0] v;
        input signed [W-1:0] th;
        reg hit;
        reg signed [W-1:0] kth;
        integer k;
        begin
            hit = CMP_GE ? (v >= th) : (v > th);
            if (!MULTI) fire = hit;
            else begin
                fire = 0;
                kth = 0;
                for (k = 1; k <= CAP; k = k + 1) begin
                    kth = kth + th;
                    if (hit && v >= kth) fire = k;
                end
            end
        end
    endfunction

    reg signed [W-1:0] xs, pre, drive, decayed, newv, v1, r_w, d_w;
    reg        [CW-1:0] r;
    always @* begin
        xs = x <<< ISH;
        sat_i = 1'b0;
        sat_v = 1'b0;
        i_new = i_old;
        if (CUBA) begin
            pre = ADD_THEN_DECAY ? decay(i_old + xs, alpha) : decay(i_old, alpha) + xs;
            i_new = clamp(pre, IB, OVI);
            sat_i = i_new != pre;
            drive = i_new;
        end else begin
            drive = xs;
        end
        decayed = decay(v_old, beta);
        newv = drive + bias;
        s = 0;
        r = 0;
        if (!SPIKING) begin
            pre = decayed + newv;
            v_new = clamp(pre, VB, OVV);
            sat_v = v_new != pre;
        end else if (TIMING == 0) begin
            pre = decayed + newv;
            v1 = clamp(pre, VB, OVV);
            sat_v = v1 != pre;
            s = fire(v1, theta);
            r_w = s;
            if (RESET == 2) v1 = v1 - r_w * theta;
            else if (RESET == 1 && s != 0) v1 = v_reset;
            v_new = v1;
        end else begin
            r = (TIMING == 1) ? r_prev : fire(v_old, theta);
            r_w = r;
            if (RESET == 2) begin
                pre = decayed + newv - r_w * theta;
                v1 = clamp(pre, VB, OVV);
            end else if (RESET == 1 && DZ_STATE) begin
                pre = ((r != 0) ? v_reset : decayed) + newv;
                v1 = clamp(pre, VB, OVV);
            end else begin
                pre = decayed + newv;
                v1 = clamp(pre, VB, OVV);
                if (RESET == 1 && r != 0) begin
                    pre = v_reset;
                    v1 = v_reset;
                end
            end
            sat_v = v1 != pre;
            s = fire(v1, theta);
            if (TIMING == 2 && RESET != 0) begin
                d_w = s;
                d_w = d_w - r_w;
                pre = (RESET == 2) ? v1 - d_w * theta : v1 - d_w * (v1 - v_reset);
                v1 = clamp(pre, VB, OVV);
                sat_v = sat_v | (v1 != pre);
            end
            v_new = v1;
        end
    end
endmodule
`default_nettype wire
